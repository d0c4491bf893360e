"""Denominator df for the fixed effects' t tests: lmerTest's Satterthwaite, pbkrtest's Kenward-Roger.

* :func:`satterthwaite` is lmerTest's ``contest1D`` (Kuznetsova et al. 2017): the
  Hessian of the deviance in ``(theta, sigma)`` and the Jacobian of ``vcov(beta)``,
  both by numDeriv's Richardson extrapolation (ported: :func:`_nd_hessian`,
  :func:`_nd_jacobian`), so the df match lmerTest's.
* :func:`kenward_roger` is pbkrtest's ``vcovAdj`` / ``Lb_ddf`` (what lmerTest's
  ``ddf = "Kenward-Roger"`` calls).  Like pbkrtest it needs the dense ``n x n``
  inverse of the marginal covariance (refused above :data:`KR_MAX_N` rows).
* :func:`ddf_coefficients` picks one by name, for ``summary(m, ddf=...)``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from mlm_wrap.errors import ConvergenceWarning, ModelError
from mlm_wrap.inference.params import _layout
from mlm_wrap.models.lmer import LmerMod

DBL_EPS = float(np.finfo(float).eps)

__all__ = ["satterthwaite", "kenward_roger", "ddf_coefficients", "KR_MAX_N"]


# ================================================================ numDeriv (Richardson)
_ZERO_TOL = math.sqrt(DBL_EPS / 7e-7)


def _nd_hessian(f: Callable[[np.ndarray], float], x: np.ndarray, d: float = 0.1,
                eps: float = 1e-4, r: int = 4, v: int = 2) -> np.ndarray:
    """numDeriv's ``hessian(method = "Richardson")`` (via ``genD``), ported."""
    x = np.asarray(x, float)
    n = len(x)
    f0 = f(x)
    h0 = np.abs(d * x) + eps * (np.abs(x) < _ZERO_TOL)
    Hdiag = np.zeros(n)
    H = np.zeros((n, n))

    def richardson(a: np.ndarray) -> float:
        a = a.copy()
        for mm in range(1, r):
            for k in range(r - mm):
                a[k] = (a[k + 1] * 4 ** mm - a[k]) / (4 ** mm - 1)
        return float(a[0])

    for i in range(n):
        h = h0.copy()
        Ha = np.zeros(r)
        for k in range(r):
            e = np.zeros(n); e[i] = h[i]
            f1, f2 = f(x + e), f(x - e)
            Ha[k] = (f1 - 2 * f0 + f2) / h[i] ** 2
            h = h / v
        Hdiag[i] = richardson(Ha)
        H[i, i] = Hdiag[i]
    for i in range(n):
        for j in range(i):
            h = h0.copy()
            Da = np.zeros(r)
            for k in range(r):
                e = np.zeros(n); e[i] += h[i]; e[j] += h[j]
                f1, f2 = f(x + e), f(x - e)
                Da[k] = (f1 - 2 * f0 + f2 - Hdiag[i] * h[i] ** 2 - Hdiag[j] * h[j] ** 2) / (2 * h[i] * h[j])
                h = h / v
            H[i, j] = H[j, i] = richardson(Da)
    return H


def _nd_jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, d: float = 1e-4,
                 eps: float = 1e-4, r: int = 4, v: int = 2) -> np.ndarray:
    """numDeriv's ``jacobian(method = "Richardson")``, ported: (len(f(x)), len(x))."""
    x = np.asarray(x, float)
    n = len(x)
    m0 = len(np.atleast_1d(f(x)))
    h = np.abs(d * x) + eps * (np.abs(x) < _ZERO_TOL)
    a = np.zeros((m0, r, n))
    for k in range(r):
        for i in range(n):
            e = np.zeros(n); e[i] = h[i]
            a[:, k, i] = (np.asarray(f(x + e), float) - np.asarray(f(x - e), float)) / (2 * h[i])
        h = h / v
    for mm in range(1, r):
        a = (a[:, 1:r + 1 - mm, :] * 4 ** mm - a[:, :r - mm, :]) / (4 ** mm - 1)
    return a[:, 0, :]


# ================================================================ Satterthwaite (lmerTest)
@dataclass
class _SattState:
    beta: np.ndarray
    vcov: np.ndarray
    vcov_varpar: np.ndarray
    jac: list[np.ndarray]


def _satt_state(m: LmerMod) -> _SattState:
    """lmerTest's ``as_lmerModLT``: asymptotic covariance of (theta, sigma) and the
    Jacobian of ``vcov(beta)`` with respect to them."""
    prob, REML = m._problem, m.REML
    n, p = prob.n, prob.p

    def devfun_vp(vp: np.ndarray) -> float:
        s2 = vp[-1] ** 2
        sol = prob.solve(vp[:-1])
        dev = sol.logdet_L + sol.pwrss / s2 + n * math.log(2 * math.pi * s2)
        if REML:
            dev += sol.logdet_RX - p * math.log(2 * math.pi * s2)
        return dev

    def covbeta(vp: np.ndarray) -> np.ndarray:
        sol = prob.solve(vp[:-1])
        return (vp[-1] ** 2 * np.linalg.inv(sol.RXtRX)).ravel(order="F")

    vp = np.r_[m.theta, m.sigma()]
    H = _nd_hessian(devfun_vp, vp)
    evals, evecs = np.linalg.eigh((H + H.T) / 2)
    tol = 1e-8
    neg = evals < -tol
    if neg.any():
        warnings.warn(f"Model failed to converge with {neg.sum()} negative eigenvalue"
                      f"{'s' if neg.sum() > 1 else ''}: " + " ".join(f"{e:.1e}" for e in evals[neg]),
                      ConvergenceWarning, stacklevel=3)
    zero = (evals > -tol) & (evals < tol)
    if zero.any():
        warnings.warn(f"Model may not have converged with {zero.sum()} eigenvalue"
                      f"{'s' if zero.sum() > 1 else ''} close to zero: "
                      + " ".join(f"{e:.1e}" for e in evals[zero]), ConvergenceWarning, stacklevel=3)
    pos = evals > tol
    Hinv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
    J = _nd_jacobian(covbeta, vp)
    jac = [J[:, k].reshape((p, p), order="F") for k in range(J.shape[1])]
    return _SattState(beta=np.asarray(m._sol.beta), vcov=m.vcov().to_numpy(),
                      vcov_varpar=2.0 * Hinv, jac=jac)


def _ttable(m: LmerMod, est, se, df) -> pd.DataFrame:
    est, se, df = (np.asarray(a, float) for a in (est, se, df))
    tval = est / se
    pval = 2.0 * stats.t.sf(np.abs(tval), df)
    return pd.DataFrame({"Estimate": est, "Std. Error": se, "df": df, "t value": tval,
                         "Pr(>|t|)": pval}, index=list(m.design.xnames))


def satterthwaite(m: LmerMod) -> pd.DataFrame:
    """lmerTest's ``summary(m)`` coefficients: t tests with Satterthwaite's df."""
    st = _satt_state(m)
    p = len(st.beta)
    dfs = np.empty(p)
    for j in range(p):
        var_con = st.vcov[j, j]
        grad = np.array([J[j, j] for J in st.jac])
        dfs[j] = 2.0 * var_con ** 2 / (grad @ st.vcov_varpar @ grad)
    return _ttable(m, st.beta, np.sqrt(np.diag(st.vcov)), dfs)


# ============================================================== Kenward-Roger (pbkrtest)
def _kr_pieces(m: LmerMod):
    """pbkrtest's ``vcovAdj``: the adjusted covariance of beta and its P, W pieces.

    ``Sigma = sum_i gamma_i G_i`` over the covariance parameters (each term's lower
    triangle, then sigma^2) as pbkrtest builds it; every ``G_i = M_a M_b'`` is kept in
    that low-rank form (``M_c``: the term's column c spread over its levels), so the only
    ``n x n`` work is ``Sigma^-1`` (by Woodbury) and products with it."""
    prob = m._problem
    n = prob.n
    X = prob.X
    Phi = m.vcov().to_numpy()
    vc = m.VarCorr()
    s2 = m.sigma() ** 2
    gam, pairs = [], []
    Ws = []
    for blk, term, T in zip(prob.blocks, vc.terms, prob.factors(m.theta)):
        rows = np.arange(n)
        M = [sp.csr_matrix((blk.Xt[:, c], (rows, blk.codes)), shape=(n, blk.nlevels))
             for c in range(blk.p)]
        for i, j in _layout(blk):  # lower triangle column-major == pbkrtest's order
            gam.append(term.cov[i, j])
            pairs.append((M[i], M[j], i == j))
        # Z Lambda for this term: column (level l, component k) = sum_c M_c[:, l] T[c, k]
        Ws.append(np.hstack([sum(T[c, k] * M[c] for c in range(blk.p)).toarray()
                             for k in range(blk.p)]))
    gam.append(s2)
    W = np.hstack(Ws)  # Sigma = s2 (I + W W')
    A = np.eye(W.shape[1]) + W.T @ W
    SigmaInv = (np.eye(n) - W @ np.linalg.solve(A, W.T)) / s2
    SigmaInv = (SigmaInv + SigmaInv.T) / 2
    HH = []
    for Ma, Mb, diag in pairs:
        H = Ma @ np.asarray(Mb.T @ SigmaInv)
        if not diag:
            H = H + Mb @ np.asarray(Ma.T @ SigmaInv)
        HH.append(np.asarray(H))
    HH.append(SigmaInv)
    ng = len(HH)
    TT = SigmaInv @ X
    OO = [H @ X for H in HH]
    PP = [-(O.T @ TT) for O in OO]
    PP = [(P + P.T) / 2 for P in PP]
    SO = [SigmaInv @ O for O in OO]
    QQ = {(r, t): OO[r].T @ SO[t] for r in range(ng) for t in range(r, ng)}
    K = np.empty((ng, ng))
    for r in range(ng):
        for t in range(r, ng):
            K[r, t] = K[t, r] = np.sum(HH[r].T * HH[t])
    IE2 = np.empty((ng, ng))
    for i in range(ng):
        PhiP = Phi @ PP[i]
        for j in range(i, ng):
            IE2[i, j] = IE2[j, i] = K[i, j] - 2 * np.sum(Phi * QQ[i, j]) + np.sum(PhiP * (PP[j] @ Phi))
    ev = np.linalg.eigvalsh((IE2 + IE2.T) / 2)
    Wt = 2 * (np.linalg.inv(IE2) if np.min(np.abs(ev)) > 1e-10 else np.linalg.pinv(IE2))
    Wt = (Wt + Wt.T) / 2
    p = X.shape[1]
    UU = np.zeros((p, p))
    for i in range(ng - 1):
        for j in range(i + 1, ng):
            UU += Wt[i, j] * (QQ[i, j] - PP[i] @ Phi @ PP[j])
    UU = UU + UU.T
    for i in range(ng):
        UU += Wt[i, i] * (QQ[i, i] - PP[i] @ Phi @ PP[i])
    PhiA = Phi + 2 * Phi @ UU @ Phi
    return Phi, PhiA, PP, Wt


def _kr_a1_a2(L: np.ndarray, V0: np.ndarray, P: list[np.ndarray], W: np.ndarray
              ) -> tuple[float, float]:
    """pbkrtest's A1 and A2 for the contrast rows L (``Lb_ddf`` / ``.KR_adjust``)."""
    Theta = L.T @ np.linalg.solve(L @ V0 @ L.T, L)
    ThetaV0 = Theta @ V0
    U = [ThetaV0 @ Pi @ V0 for Pi in P]
    A1 = A2 = 0.0
    for i in range(len(P)):
        for j in range(i, len(P)):
            e = 1.0 if i == j else 2.0
            A1 += e * W[i, j] * np.trace(U[i]) * np.trace(U[j])
            A2 += e * W[i, j] * np.sum(U[i] * U[j].T)
    return A1, A2


def _kr_ddf(A1: float, A2: float, q: int) -> float:
    """pbkrtest's denominator df from A1, A2 and the number of contrasts q."""
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    den = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
    V0_ = 1 + c1 * B
    V0_ = 0.0 if abs(V0_) < 1e-10 else V0_
    V1, V2 = 1 - c2 * B, 1 - c3 * B
    x = 1 - A2 / q
    ratio = 1.0 if (abs(x) < 1e-14 and abs(V1) < 1e-14) else x / V1
    rho = (1 / q) * ratio ** 2 * V0_ / V2
    return 4 + (q + 2) / (q * rho - 1)


def _lb_ddf(L: np.ndarray, V0: np.ndarray, P: list[np.ndarray], W: np.ndarray) -> float:
    """pbkrtest's ``Lb_ddf``: Kenward-Roger denominator df for the contrast rows L."""
    L = np.atleast_2d(L)
    A1, A2 = _kr_a1_a2(L, V0, P, W)
    return _kr_ddf(A1, A2, L.shape[0])


#: Kenward-Roger keeps a few dense n x n matrices (as pbkrtest); beyond this many rows
#: that is gigabytes of memory.
KR_MAX_N = 5000


def kenward_roger(m: LmerMod) -> pd.DataFrame:
    """lmerTest's ``summary(m, ddf = "Kenward-Roger")`` coefficients (pbkrtest's method):
    the adjusted covariance for the standard errors, Kenward-Roger df for each."""
    if not m.REML:
        raise ModelError("Kenward-Roger's method is only available for REML model fits "
                         "(refit with REML=True, or use ddf='Satterthwaite')")
    if m.nobs() > KR_MAX_N:
        raise ModelError(f"Kenward-Roger needs dense {m.nobs()} x {m.nobs()} matrices (as "
                         f"pbkrtest); use ddf='Satterthwaite' for more than {KR_MAX_N} rows")
    Phi, PhiA, P, W = _kr_pieces(m)
    beta = np.asarray(m._sol.beta)
    p = len(beta)
    se, dfs = np.empty(p), np.empty(p)
    for j in range(p):
        L = np.zeros(p); L[j] = 1.0
        se[j] = math.sqrt(L @ PhiA @ L)
        dfs[j] = _lb_ddf(L, Phi, P, W)
    return _ttable(m, beta, se, dfs)


def ddf_coefficients(m: LmerMod, ddf: str) -> pd.DataFrame:
    """The coefficient table of lmerTest's ``summary(m, ddf=)``: ``"Satterthwaite"`` or
    ``"Kenward-Roger"`` (case-insensitive; R's partial matching of the names)."""
    key = str(ddf).lower().replace("_", "-")
    if "satterthwaite".startswith(key) and key:
        return satterthwaite(m)
    if "kenward-roger".startswith(key) and key:
        return kenward_roger(m)
    raise ValueError(f"ddf must be 'Satterthwaite' or 'Kenward-Roger', not {ddf!r}")
