"""F tests of the fixed-effect terms of ONE fitted model, and single-term deletions.

Ported from R:

* lmerTest's ``anova.lmerModLmerTest`` / ``single_anova`` and ``contestMD.lmerModLmerTest``
  (the multi-df F test of ``L beta = 0``, Satterthwaite's df by ``get_Fstat_ddf``), with the
  hypothesis matrices of ``get_contrasts_type1`` (``doolittle``), ``get_contrasts_type2_unfolded``
  (``get_contrasts_marginal``, ``get_contrasts_type2``, ``containment``/``term_contain``) and
  ``get_contrasts_type3`` (``extract_contrasts_type3``, ``get_rdX``);
* pbkrtest's ``KRmodcomp`` / ``.KR_adjust`` for ``ddf="Kenward-Roger"`` (lmerTest's scaled F);
* lme4's ``anova.merMod`` for one model (the sequential table ``npar, Sum Sq, Mean Sq,
  F value``; ``ddf="lme4"`` and every glmer fit);
* lme4's ``drop1.merMod`` (``test="Chisq"``: refits by ML without each term of R's
  ``drop.scope``) and lmerTest's ``drop1.lmerModLmerTest`` (the F table of single-term
  deletions, type III-like marginal hypotheses).

lmerTest's ``ranova`` is :mod:`mlm_wrap.inference.ranova`.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from mlm_wrap.errors import ModelError, caught_warnings
from mlm_wrap.inference.anova_table import AnovaTable
from mlm_wrap.inference.ddf import KR_MAX_N, _kr_a1_a2, _kr_ddf, _kr_pieces, _satt_state
from mlm_wrap.models.lmer import LmerMod
from mlm_wrap.spec.design import _new_values, formula_matrix
from mlm_wrap.spec.model_matrix import model_matrix

__all__ = ["AnovaTable", "single_anova", "lme4_anova", "drop1", "hypotheses"]

_FCOLS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]


# ============================================================================ arguments
def _match_type(type) -> str:
    key = str(type).strip()
    table = {"1": "1", "I": "1", "2": "2", "II": "2", "3": "3", "III": "3"}
    if key not in table:
        raise ValueError(f"type must be 1, 2 or 3 ('I', 'II', 'III'), not {type!r}")
    return table[key]


def _match_ddf(ddf) -> str:
    key = str(ddf).strip().lower().replace("_", "-")
    for name in ("Satterthwaite", "Kenward-Roger", "lme4"):
        if key and name.lower().startswith(key):
            return name
    raise ValueError(f"ddf must be 'Satterthwaite', 'Kenward-Roger' or 'lme4', not {ddf!r}")


def _is_glmer(m) -> bool:
    return hasattr(m, "family_object")


# ============================================================== terms and model matrix
class _Terms:
    """What lmerTest reads off ``terms(model)`` and ``model.matrix(model)``."""

    def __init__(self, m: LmerMod):
        d = m.design
        t = d.fixed_terms
        self.tinfo = t
        self.labels = list(t.labels)
        self.intercept = bool(t.intercept)
        self.X = np.asarray(d.X, float)
        self.xnames = list(d.xnames)
        vals = _new_values(d, t, d.frame, "the fixed effects")
        X, names, assign, _ = model_matrix(t, vals, d.n, codings=d.fixed_codings)
        pos = {nm: a for nm, a in zip(names, assign)}
        missing = [nm for nm in self.xnames if nm not in pos]
        if missing:
            raise ModelError(f"cannot map the model matrix columns {missing} to terms")
        self.assign = np.array([pos[nm] for nm in self.xnames], int)
        self.kinds = {t.variables[i]: c for i, c in d.fixed_codings.items()}
        self.vars = [[t.variables[i] for i in term] for term in t.terms]

    def cols(self, label: str) -> list[int]:
        """``term2colX``: the matrix columns of a term (0-based)."""
        k = self.labels.index(label) + 1
        return [j for j, a in enumerate(self.assign) if a == k]

    def numerics(self, k: int) -> set[str]:
        return {v for v in self.vars[k]
                if (c := self.kinds.get(v)) is not None and c.kind == "numeric" and c.ncol == 1}

    def containment(self) -> dict[str, list[str]]:
        """lmerTest's ``containment``: the terms that contain each term."""
        out = {}
        for a, la in enumerate(self.labels):
            va = set(self.vars[a])
            out[la] = [lb for b, lb in enumerate(self.labels)
                       if va <= set(self.vars[b]) and set(self.vars[b]) - va
                       and self.numerics(a) == self.numerics(b)]
        return out

    def order(self) -> list[int]:
        return [len(v) for v in self.vars]


def _doolittle(x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """lmerTest's ``doolittle(x)$L`` (LU without pivoting; small entries zeroed)."""
    n = x.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        U[i, :] = x[i, :] - L[i, :i] @ U[:i, :]
        for j in range(i + 1, n):
            v = x[j, i] - L[j, :i] @ U[:i, i]
            L[j, i] = 0.0 if abs(U[i, i]) < eps else v / U[i, i]
    L[np.abs(L) < eps] = 0.0
    return L


def _zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    x = np.asarray(x, float)
    mx = np.max(np.abs(x)) if x.size else 0.0
    d = max(0, digits - math.ceil(math.log10(mx))) if mx > 0 else digits
    return np.round(x, d)


def _type1(T: _Terms) -> dict[str, np.ndarray]:
    p = T.X.shape[1]
    if p == 1 and T.intercept:
        return {}
    L = np.ones((1, 1)) if p == 1 else _doolittle(T.X.T @ T.X).T
    return {lab: L[T.cols(lab), :] for lab in T.labels}


def _marginal(T: _Terms, which: list[str]) -> dict[str, np.ndarray]:
    I = np.eye(T.X.shape[1])
    return {lab: I[T.cols(lab), :] for lab in which}


def _type2(T: _Terms, which: list[str]) -> dict[str, np.ndarray]:
    cont = T.containment()
    col_terms = [("(Intercept)" if a == 0 else T.labels[a - 1]) for a in T.assign]
    out = {}
    p = T.X.shape[1]
    for lab in which:
        inside = set([lab] + cont[lab])
        cols = [j for j in range(p) if col_terms[j] in inside]
        perm = [j for j in range(p) if j not in cols] + cols
        Xn = T.X[:, perm]
        Lc = _doolittle(Xn.T @ Xn).T
        rows = [i for i, j in enumerate(perm) if col_terms[j] == lab]
        back = np.argsort(perm)  # columns in the original order
        out[lab] = Lc[np.ix_(rows, back)]
    return out


def _type2_unfolded(T: _Terms) -> dict[str, np.ndarray]:
    if T.X.shape[1] <= 1 or len(T.labels) <= 1:
        return _type1(T)
    cont = T.containment()
    marg = [lab for lab in T.labels if not cont[lab]]
    rest = [lab for lab in T.labels if cont[lab]]
    out = {**_marginal(T, marg), **_type2(T, rest)}
    return {lab: out[lab] for lab in T.labels}


def _type3(m: LmerMod, T: _Terms) -> dict[str, np.ndarray]:
    if T.X.shape[1] <= 1 or len(T.labels) <= 1:
        return _type1(T)
    codings = [c for c in m.design.fixed_codings.values() if c.kind == "factor"]
    if any(c.contrasts not in (None, "contr.treatment") for c in codings):
        raise NotImplementedError("type III hypotheses for factors coded with contrasts other "
                                  "than contr.treatment are not available yet; use type=1 or 2")
    frame = m.design.frame
    parts, names = [], []
    if T.intercept:
        parts.append(np.ones((m.design.n, 1)))
        names.append("(Intercept)")
    for lab in T.labels:
        fm = formula_matrix("0 + " + lab, frame)
        parts.append(np.asarray(fm.X, float))
        names += list(fm.names)
    rdX = np.hstack(parts)
    X = T.X
    L = _zapsmall((np.linalg.pinv(X, rcond=math.sqrt(np.finfo(float).eps)) @ rdX).T)
    cont = T.containment()
    order = T.order()
    by_order = sorted(range(len(T.labels)), key=lambda k: -order[k])  # stable, as R's radix
    for k in by_order:
        lab = T.labels[k]
        if cont[lab]:
            xc = [j for c in cont[lab] for j in T.cols(c)]
            yc = T.cols(lab)
            A, Y = L[:, xc], L[:, yc]
            coef, *_ = np.linalg.lstsq(A, Y, rcond=None)
            L[:, yc] = _zapsmall(Y - A @ coef)
    pos = {nm: i for i, nm in enumerate(names)}
    missing = [nm for nm in T.xnames if nm not in pos]
    if missing:
        raise NotImplementedError(f"type III hypotheses: columns {missing} have no cell in the "
                                  "over-parameterised design; use type=1 or 2")
    L = L[[pos[nm] for nm in T.xnames], :]
    out = {}
    for lab in T.labels:
        Lt = L[:, T.cols(lab)].T
        out[lab] = Lt[np.abs(Lt).sum(axis=1) > 1e-8, :]
    return out


def hypotheses(m: LmerMod, type=3) -> dict[str, np.ndarray]:
    """lmerTest's ``attr(anova(m, type=), "hypotheses")``: the L matrix of each term."""
    t = _match_type(type)
    T = _Terms(m)
    if t == "1":
        return _type1(T)
    if t == "2":
        return _type2_unfolded(T)
    return _type3(m, T)


# ===================================================================== F tests (contestMD)
def _fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """lmerTest's ``get_Fstat_ddf``."""
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2)))
    return 2 * E / (E - len(nu))


def _ftable_row(F, ndf, ddf, sigma, Fscale=1.0) -> list[float]:
    MS = F * sigma ** 2
    Fv = F * Fscale
    p = float(stats.f.sf(Fv, ndf, ddf)) if np.isfinite(ddf) and ddf > 0 else math.nan
    return [MS * ndf, MS, float(ndf), float(ddf), Fv, p]


def _contest_satt(st, L: np.ndarray, sigma: float, eps: float = math.sqrt(np.finfo(float).eps)):
    beta, V = st.beta, st.vcov
    if L.shape[0] == 1:
        l = L[0]
        v = l @ V @ l
        g = np.array([l @ J @ l for J in st.jac])
        df = 2 * v ** 2 / (g @ st.vcov_varpar @ g)
        return _ftable_row((l @ beta) ** 2 / v, 1, df, sigma)
    VL = L @ V @ L.T
    d, P = np.linalg.eigh((VL + VL.T) / 2)
    idx = np.argsort(d)[::-1]
    d, P = d[idx], P[:, idx]
    pos = d > max(eps * d[0], 0)
    q = int(pos.sum())
    if q <= 0:
        return None
    PtL = (P.T @ L)[:q, :]
    if q == 1:
        return _contest_satt(st, PtL, sigma)
    t2 = (PtL @ beta) ** 2 / d[:q]
    F = float(t2.sum() / q)
    nu = np.empty(q)
    for k in range(q):
        g = np.array([PtL[k] @ J @ PtL[k] for J in st.jac])
        nu[k] = 2 * d[k] ** 2 / (g @ st.vcov_varpar @ g)
    return _ftable_row(F, q, _fstat_ddf(nu), sigma)


def _contest_kr(pieces, beta: np.ndarray, L: np.ndarray, sigma: float):
    """pbkrtest's ``.KR_adjust`` as lmerTest's ``contestMD`` uses it."""
    Phi, PhiA, P, W = pieces
    A1, A2 = _kr_a1_a2(L, Phi, P, W)
    q = int(np.linalg.matrix_rank(L))
    df2 = _kr_ddf(A1, A2, q)
    Fscale = 1.0 if abs(df2 - 4) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
    Lb = L @ beta
    FU = float(Lb @ np.linalg.solve(L @ PhiA @ L.T, Lb)) / q
    return _ftable_row(FU, q, df2, sigma, Fscale)


def _contest(m: LmerMod, how: str):
    """lmerTest's ``contestMD`` for this fit: a function of the contrast rows L giving the
    F-table row, with Kenward-Roger's or Satterthwaite's df."""
    if how == "Kenward-Roger":
        if not m.REML:
            raise ModelError("Kenward-Roger's method is only available for REML model fits")
        if m.nobs() > KR_MAX_N:
            raise ModelError(f"Kenward-Roger needs dense {m.nobs()} x {m.nobs()} matrices; use "
                             f"ddf='Satterthwaite' for more than {KR_MAX_N} rows")
        pieces = _kr_pieces(m)
        beta = np.asarray(m._sol.beta)
        return lambda L: _contest_kr(pieces, beta, L, m.sigma())
    st = _satt_state(m)
    return lambda L: _contest_satt(st, L, m.sigma())


def single_anova(m: LmerMod, type=3, ddf: str = "Satterthwaite") -> AnovaTable:
    """lmerTest's ``anova(m, type=, ddf=)`` for one lmer fit (``ddf="lme4"``: lme4's table)."""
    t = _match_type(type)
    how = _match_ddf(ddf)
    if _is_glmer(m) or how == "lme4":
        return lme4_anova(m)
    Ls = hypotheses(m, t)
    test = _contest(m, how)
    rows, names = [], []
    for lab, L in Ls.items():
        r = test(L) if L.shape[0] else None
        names.append(lab)
        rows.append(r if r is not None else [math.nan] * 6)
    tab = AnovaTable(np.array(rows, float).reshape(len(rows), 6), index=names, columns=_FCOLS)
    roman = {"1": "I", "2": "II", "3": "III"}[t]
    method = {"Satterthwaite": "Satterthwaite's", "Kenward-Roger": "Kenward-Roger's"}[how]
    tab.heading = [f"Type {roman} Analysis of Variance Table with {method} method"]
    return tab


def lme4_anova(m: LmerMod) -> AnovaTable:
    """lme4's ``anova(m)`` for one model: sequential sums of squares from ``RX beta``."""
    T = _Terms(m)
    V = m.vcov(use_hessian=False) if _is_glmer(m) else m.vcov()
    V = np.asarray(V, float)
    s2 = m.sigma() ** 2
    RX = np.linalg.cholesky(s2 * np.linalg.inv(V)).T  # upper: RX'RX = sigma^2 V^-1
    beta = np.asarray(m.fixef(), float)
    ss = (RX @ beta) ** 2
    rows, names = [], []
    for a in dict.fromkeys(T.assign):
        if a == 0:
            continue
        sel = T.assign == a
        k = int(sel.sum())
        s = float(ss[sel].sum())
        names.append(T.labels[a - 1])
        rows.append([k, s, s / k, s / k / s2])
    tab = AnovaTable(np.array(rows, float).reshape(len(rows), 4), index=names,
                     columns=["npar", "Sum Sq", "Mean Sq", "F value"])
    tab.heading = ["Analysis of Variance Table"]
    return tab


# ================================================================================ drop1
def _drop_scope(T: _Terms) -> list[str]:
    """R's ``drop.scope``: terms contained in no other term."""
    out = []
    for a, la in enumerate(T.labels):
        va = set(T.vars[a])
        if not any(b != a and va < set(T.vars[b]) for b in range(len(T.labels))):
            out.append(la)
    return out


def _formula(m: LmerMod, fixed: list[str], random: list[str]) -> str:
    """``response ~ fixed + random`` with the model's intercept and offset terms."""
    t = m.design.fixed_terms
    parts = list(fixed) + [t.variables[i] for i in t.offsets
                           if m.design.offset is None and not _is_glmer(m)]
    if not parts:  # lme4 reads R's `y ~ (1 | g) - 1` (what update() leaves) with an intercept
        parts = ["1"]
    elif not t.intercept:
        parts = ["0"] + parts
    return f"{m.design.parsed.response} ~ " + " + ".join(parts + list(random))


def _refit(m: LmerMod, formula: str, REML: bool | None = None):
    from mlm_wrap.models.glmer import glmer
    from mlm_wrap.models.lmer import lmer
    d = m.design
    if _is_glmer(m):
        # the frame holds glmer's response column (proportions for cbind()); the trials
        # and prior weights are the problem's weights, the offsets its offset
        pr = m._problem
        off = np.asarray(pr.offset, float)
        with caught_warnings():
            return glmer(formula, d.frame, family=m.family_object, nAGQ=m.nAGQ,
                         weights=np.asarray(pr.wt, float),
                         offset=off if np.any(off != 0) else None, data_name=m.data_name)
    kw = dict(weights=d.weights, offset=d.offset, data_name=m.data_name)
    return lmer(formula, d.frame, REML=m.REML if REML is None else REML, **kw)


def _lm_loglik(X: np.ndarray, y: np.ndarray, REML: bool, w=None) -> tuple[float, int]:
    """R's ``logLik.lm(fit, REML=)``: (value, df)."""
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    sw = np.sqrt(w)
    Q, R = np.linalg.qr(X * sw[:, None])
    coef = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
    res = y - X @ coef
    n, p = X.shape
    N = n - p if REML else n
    val = 0.5 * (np.sum(np.log(w)) - N * (math.log(2 * math.pi) + 1 - math.log(N)
                                          + math.log(np.sum(w * res ** 2))))
    if REML:
        val -= np.sum(np.log(np.abs(np.diag(R))))
    return float(val), p + 1


def _drop1_chisq(m: LmerMod, k: float = 2.0) -> AnovaTable:
    T = _Terms(m)
    scope = _drop_scope(T)
    random = [str(r) for r in m.design.parsed.random]
    full = m if (_is_glmer(m) or not m.REML) else _refit(m, _formula(m, T.labels, random),
                                                          REML=False)  # lme4's refitML
    ll = [full.logLik()]
    for lab in scope:
        keep = [x for x in T.labels if x != lab]
        ll.append(_refit(m, _formula(m, keep, random), REML=False).logLik())
    edf = np.array([v.df for v in ll], float)
    aic = np.array([-2 * float(v) + k * e for v, e in zip(ll, edf)])
    dfs = edf[0] - edf
    dev = aic - k * edf
    dev = dev - dev[0]
    dfs[0] = dev[0] = math.nan
    with np.errstate(invalid="ignore"):
        P = stats.chi2.sf(dev, dfs)
    tab = AnovaTable({"npar": dfs, "AIC": aic, "LRT": dev, "Pr(Chi)": P},
                     index=["<none>"] + scope)
    tab.heading = ["Single term deletions", "", "Model:", m.design.parsed.deparse()]
    return tab


def _drop1_f(m: LmerMod, ddf: str = "Satterthwaite") -> AnovaTable:
    """lmerTest's ``drop1(m)``: marginal F tests of the terms ``drop.scope`` allows
    (``get_contrasts_marginal`` for those, whose columns are dropped together)."""
    how = _match_ddf(ddf)
    if how == "lme4":  # lmerTest: NextMethod(), lme4's drop1 without a test
        return drop1(m, test="none")
    if m.design.dropped_columns:
        raise NotImplementedError("drop1(m) F tests of a rank-deficient model (lmerTest's "
                                  "get_Ldiffmat2) are not available; use test='Chisq'")
    T = _Terms(m)
    scope = _drop_scope(T)
    if T.X.shape[1] <= 1 or len(T.labels) <= 1:  # get_contrasts_marginal's shortcut
        Ls = {lab: L for lab, L in _type1(T).items() if lab in scope}
    else:
        Ls = _marginal(T, scope)
    test = _contest(m, how)
    rows = [test(L) or [math.nan] * 6 for L in Ls.values()]
    tab = AnovaTable(np.array(rows, float).reshape(len(rows), 6), index=list(Ls), columns=_FCOLS)
    method = {"Satterthwaite": "Satterthwaite's", "Kenward-Roger": "Kenward-Roger's"}[how]
    tab.heading = [f"Single term deletions using {method} method:", "", "Model:",
                   m.design.parsed.deparse()]
    return tab


def drop1(m: LmerMod, test: str | None = None, ddf: str = "Satterthwaite", k: float = 2.0
          ) -> AnovaTable:
    """``drop1(m, test="Chisq")``: lme4's likelihood-ratio table (ML refits without each
    term R's ``drop.scope`` allows).  ``drop1(m)`` of an lmer fit: lmerTest's F table;
    of a glmer fit: lme4's table without tests (``npar, AIC``)."""
    if test is not None:
        key = str(test)
        if key.lower() in ("chisq", "lrt"):
            return _drop1_chisq(m, k)
        if key.lower() != "none":
            raise ValueError(f"test must be 'Chisq' or 'none', not {test!r}")
        tab = _drop1_chisq(m, k)[["npar", "AIC"]]
        tab.heading = ["Single term deletions", "", "Model:", m.design.parsed.deparse()]
        return tab
    if _is_glmer(m):
        return drop1(m, test="none", k=k)
    return _drop1_f(m, ddf)

