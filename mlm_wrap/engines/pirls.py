"""The numerics of ``glmer``: PIRLS, the Laplace approximation and adaptive Gauss-Hermite
quadrature, as lme4 1.1-31 computes them (src/external.cpp, respModule.cpp, glmFamily.cpp).

For a GLMM with linear predictor ``eta = offset + X beta + Z Lambda(theta) u`` and
``u ~ N(0, I)``, lme4 finds the conditional modes ``u`` (and, in its first, ``nAGQ = 0``
stage, ``beta`` too) by penalised iteratively reweighted least squares, then scores
``(theta, beta)`` by the Laplace approximation of -2 log-likelihood:

    ldL2 + ||u||^2 + aic(y, n, mu, wt)

where ``L`` is the Cholesky factor of ``Lambda'Z'WZ Lambda + I`` at the working weights
``W`` and ``aic`` is the family's ``-2 sum log p(y | mu)`` *including* the normalising
constants (binomial coefficients, ``log y!``).  For ``nAGQ > 1`` (one scalar term)
lme4 instead sums deviance residuals (no constants) over quadrature nodes, which is why
R's ``logLik`` jumps between ``nAGQ = 1`` and ``nAGQ > 1``: reproduced here on purpose.

lme4's PIRLS stops early (relative change of the penalised deviance below 1e-7), and its
Laplace deviance is not stationary in ``u`` (``aic`` is not), so the deviance lme4
optimises, reports and differentiates (its Hessian gives ``vcov``) differs from the
exact Laplace approximation by ~1e-4, and its finite-difference Hessian by a few
percent.  :meth:`GlmmProblem.pirls` therefore follows ``pwrssUpdate`` step for step by
default (same start, same stopping rule): checked against lme4's own ``devfun`` to 1e-8.

The penalised least-squares solves use the LMM's blocked Cholesky factor
(:mod:`mlm_wrap.engines.cholesky`: first term block-diagonal, the rest dense), from ``Z'WZ``
rebuilt at the working weights at every PIRLS iteration; ``Z`` products go through level codes.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import special

from mlm_wrap.engines.cholesky import (  # split_theta: importable here too
    TRIPLE_COST,
    TRIPLE_LIMIT,
    Chol,
    CrossProducts,
    ReBlock,
    ReTerms,
    factor,
    level_gram,
    split_theta,
)
from mlm_wrap.errors import caught_warnings

_SQRT2PI = np.sqrt(2.0 * np.pi)
EPS = float(np.finfo(float).eps)
SQRT2PI = float(np.sqrt(2.0 * np.pi))


class PirlsError(ArithmeticError):
    """PIRLS could not find the conditional modes (lme4's pwrssUpdate errors)."""


# ------------------------------------------------------------------------------ family
_LINK_NAMES = {"Logit": "logit", "Probit": "probit", "CLogLog": "cloglog", "Log": "log",
               "Identity": "identity", "Sqrt": "sqrt", "Cauchy": "cauchit",
               "InversePower": "inverse", "InverseSquared": "1/mu^2", "LogLog": "loglog"}
_FAMILY_NAMES = {"Binomial": "binomial", "Poisson": "poisson", "Gaussian": "gaussian",
                 "Gamma": "Gamma", "InverseGaussian": "inverse.gaussian",
                 "NegativeBinomial": "Negative Binomial", "Tweedie": "Tweedie"}


def link_name(link) -> str:
    """R's name of a statsmodels link (``Logit`` -> ``logit``)."""
    name = type(link).__name__
    if name == "Power":
        pw = float(getattr(link, "power", 1.0))
        return {0.5: "sqrt", 1.0: "identity", -1.0: "inverse", -2.0: "1/mu^2"}.get(pw, f"mu^{pw:g}")
    return _LINK_NAMES.get(name, name.lower())


def family_name(fam) -> str:
    """R's name of a statsmodels family (``Binomial`` -> ``binomial``)."""
    return _FAMILY_NAMES.get(type(fam).__name__, type(fam).__name__)


class Family:
    """A GLM family as glmer uses it: statsmodels' link and variance function, with
    lme4's clamps (``mu <= 1 - eps`` for logit/probit, ``mu >= eps`` for log, ``dmu/deta
    >= eps``) and lme4's deviance residuals and ``aic`` (binomial and poisson)."""

    SUPPORTED = ("binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian")
    #: the links R's family functions accept (stats::binomial, poisson, Gamma, ...)
    LINKS = {"binomial": ("logit", "probit", "cloglog", "cauchit", "log"),
             "poisson": ("log", "identity", "sqrt"),
             "Gamma": ("inverse", "identity", "log"),
             "inverse.gaussian": ("1/mu^2", "inverse", "identity", "log"),
             "gaussian": ("inverse", "log", "identity")}
    #: lme4's ``hasNoScale``: the families without a scale parameter
    NO_SCALE = ("binomial", "poisson")

    def __init__(self, sm_family):
        self.sm = sm_family
        self.family = family_name(sm_family)
        self.link = link_name(sm_family.link)
        if self.family not in self.SUPPORTED:
            raise NotImplementedError(
                f"glmer() with family {self.family!r} is not available: binomial, poisson, "
                "Gamma, inverse.gaussian and gaussian are")
        if self.link not in self.LINKS[self.family]:
            raise ValueError(
                f"link {self.link!r} not available for the {self.family} family; available "
                f"links are {', '.join(repr(k) for k in self.LINKS[self.family])}")

    @property
    def has_scale(self) -> bool:
        """lme4's ``useSc`` for a GLMM: ``!hasNoScale(family)``."""
        return self.family not in self.NO_SCALE

    def __repr__(self) -> str:
        return f"Family: {self.family}  ( {self.link} )"

    # -- link -------------------------------------------------------------------------
    def linkfun(self, mu: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(self.sm.link(np.asarray(mu, float)), float)

    def linkinv(self, eta: np.ndarray) -> np.ndarray:
        eta = np.asarray(eta, float)
        if self.link == "logit":
            mu = special.expit(eta)
        elif self.link == "probit":  # scipy.stats.norm.cdf's own formula, without its wrapper
            mu = special.ndtr(eta)
        elif self.link == "cauchit":
            mu = 0.5 + np.arctan(eta) / np.pi
        else:
            with np.errstate(all="ignore"):
                mu = np.asarray(self.sm.link.inverse(eta), float)
        if self.link in ("logit", "probit", "cauchit"):
            mu = np.minimum(mu, 1.0 - EPS)
        elif self.link == "cloglog":
            mu = np.clip(mu, EPS, 1.0 - EPS)
        elif self.link == "log":
            mu = np.maximum(mu, EPS)
        return mu

    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        eta = np.asarray(eta, float)
        if self.link == "logit":
            p = special.expit(eta)
            d = p * (1.0 - p)
        elif self.link == "probit":  # scipy.stats.norm.pdf's formula
            d = np.exp(-eta ** 2 / 2.0) / _SQRT2PI
        elif self.link == "cauchit":
            d = 1.0 / np.pi / (1.0 + eta * eta)
        else:
            with np.errstate(all="ignore"):
                d = np.asarray(self.sm.link.inverse_deriv(eta), float)
        if self.link in ("logit", "probit", "cloglog", "log"):
            d = np.maximum(d, EPS)
        return d

    # -- distribution -----------------------------------------------------------------
    def variance(self, mu: np.ndarray) -> np.ndarray:
        if self.family == "binomial":
            return np.maximum(mu * (1.0 - mu), EPS)  # lme4's x1mx
        if self.family == "poisson":
            return np.asarray(mu, float)
        if self.family == "Gamma":
            return np.asarray(mu, float) ** 2
        if self.family == "inverse.gaussian":
            return np.asarray(mu, float) ** 3
        return np.ones_like(np.asarray(mu, float))

    def dev_resid(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """Squared deviance residuals (lme4's ``devResid``, R's ``dev.resids``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.family == "binomial":
                return 2.0 * wt * (_ylogy(y, mu) + _ylogy(1.0 - y, 1.0 - mu))
            if self.family == "poisson":
                return 2.0 * wt * (_ylogy(y, mu) - (y - mu))
            if self.family == "Gamma":
                return -2.0 * wt * (np.log(np.where(y == 0, 1.0, y / mu)) - (y - mu) / mu)
            if self.family == "inverse.gaussian":
                return wt * (y - mu) ** 2 / (y * mu ** 2)
            return wt * (y - mu) ** 2

    def aic_const(self, y: np.ndarray, n: np.ndarray, wt: np.ndarray):
        """The data-only parts of ``aic`` (binomial coefficients, log y!), computed once."""
        if self.family == "binomial":
            m = n if np.any(n > 1) else wt
            k = np.rint(m * y)
            m = np.rint(m)
            f = np.where(m <= 0, 0.0, wt / np.where(m <= 0, 1.0, m))
            lchoose = special.gammaln(m + 1) - special.gammaln(k + 1) - special.gammaln(m - k + 1)
            return {"k": k, "m": m, "f": f, "const": float(np.sum(f * lchoose))}
        if self.family == "poisson":
            return {"const": float(-np.sum(wt * special.gammaln(y + 1)))}
        with np.errstate(divide="ignore", invalid="ignore"):
            return {"swt": float(np.sum(wt)), "slogw": float(np.sum(np.log(wt))),
                    "slogy": float(np.sum(wt * np.log(y)))}

    def aic(self, y, mu, wt, c: dict) -> float:
        """lme4's ``aic``: -2 sum of log-likelihood terms, with their constants (R's
        ``family()$aic``; with a scale parameter, at the dispersion ``dev / n``, plus 2)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.family == "binomial":
                k, m, f = c["k"], c["m"], c["f"]
                ll = special.xlogy(k, mu) + special.xlog1py(m - k, -mu)
                return float(-2.0 * (np.sum(f * ll) + c["const"]))
            if self.family == "poisson":
                ll = special.xlogy(y, mu) - mu
                return float(-2.0 * (np.sum(wt * ll) + c["const"]))
            dev = float(np.sum(self.dev_resid(y, mu, wt)))
            if self.family == "Gamma":
                disp = dev / c["swt"]
                shape = 1.0 / disp
                ll = (special.xlogy(shape - 1.0, y) - y / (mu * disp)
                      - special.gammaln(shape) - shape * np.log(mu * disp))
                return float(-2.0 * np.sum(ll * wt) + 2.0)
            if self.family == "inverse.gaussian":
                sw = c["swt"]
                return float(sw * (1.0 + np.log(dev / sw * 2.0 * np.pi)) + 3.0 * c["slogy"] + 2.0)
            nobs = len(y)
            return float(nobs * (np.log(dev / nobs * 2.0 * np.pi) + 1.0) + 2.0 - c["slogw"])


class NegBinFamily(Family):
    """MASS's ``negative.binomial(theta)``: a negative binomial family with known
    ``theta`` (variance ``mu + mu^2 / theta``; log, sqrt or identity link), as lme4's
    ``glmer.nb`` refits with it.  R's family name is ``Negative Binomial(<theta>)`` with
    theta printed as ``format(round(theta, 4))``; no scale parameter."""

    NB_LINKS = ("log", "identity", "sqrt")

    def __init__(self, theta: float, link: str = "log", family_label: str | None = None):
        from statsmodels.genmod import families as smf
        from statsmodels.genmod.families import links as L
        theta = float(theta)
        if not np.isfinite(theta) or theta <= 0:
            raise ValueError(f"theta must be a positive number, not {theta!r}")
        link = str(link).strip()
        if link not in self.NB_LINKS:
            raise ValueError(f'"{link}" link not available for negative binomial family; '
                             'available links are "identity", "log" and "sqrt"')
        sm_link = {"log": L.Log, "identity": L.Identity, "sqrt": L.Sqrt}[link]()
        with caught_warnings():
            self.sm = smf.NegativeBinomial(link=sm_link, alpha=1.0 / theta)
        self.theta = theta
        self.link = link
        self.family = family_label or f"Negative Binomial({_r_format_round4(theta)})"

    @property
    def has_scale(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"Family: {self.family}  ( {self.link} )"

    def variance(self, mu: np.ndarray) -> np.ndarray:
        mu = np.asarray(mu, float)
        return mu + mu ** 2 / self.theta

    def dev_resid(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """MASS: ``2 wt (y log(pmax(1, y) / mu) - (y + theta) log((y + theta) / (mu + theta)))``."""
        th = self.theta
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2.0 * wt * (y * np.log(np.maximum(1.0, y) / mu)
                               - (y + th) * np.log((y + th) / (mu + th)))

    def aic_const(self, y: np.ndarray, n: np.ndarray, wt: np.ndarray):
        th = self.theta
        const = special.gammaln(y + 1) - th * np.log(th) + special.gammaln(th) - special.gammaln(th + y)
        return {"const": float(np.sum(const * wt))}

    def aic(self, y, mu, wt, c: dict) -> float:
        """MASS: ``2 sum(wt ((y + theta) log(mu + theta) - y log(mu) + lgamma(y + 1)
        - theta log(theta) + lgamma(theta) - lgamma(theta + y)))``."""
        th = self.theta
        with np.errstate(divide="ignore", invalid="ignore"):
            term = (y + th) * np.log(mu + th) - special.xlogy(y, mu)
        return float(2.0 * (np.sum(term * wt) + c["const"]))


def _r_format_round4(x: float) -> str:
    """R's ``format(round(x, 4))`` (7 significant digits, no trailing zeros)."""
    r = round(float(x), 4)
    s = f"{r:.7g}"
    if "e" in s:
        return s
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def _ylogy(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """lme4's ``Y_log_Y``: y log(y / mu), 0 where y / mu is 0."""
    r = y / mu
    return np.where(r > 0, y * np.log(np.where(r > 0, r, 1.0)), 0.0)


# ------------------------------------------------------------------------------ PIRLS
@dataclass
class PirlsState:
    """The conditional modes at one (theta, beta) and the factor they came with."""

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    weights: np.ndarray  # working weights of the last decomposition
    chol: Chol
    Ts: list
    ldL2: float
    pdev: float  # sum of deviance residuals + ||u||^2
    iterations: int
    RXtRX: np.ndarray | None = None

    @property
    def sqrL(self) -> float:
        return float(self.u @ self.u)


class GlmmProblem(ReTerms):
    """One GLMM's data (lme4's ``merPredD`` + ``glmResp``), and PIRLS on it.

    ``y`` is the response as glm codes it (a proportion for binomial), ``weights`` the
    prior weights (number of trials for binomial proportions), ``n_trials`` glm's ``n``
    (used by the binomial ``aic``), ``offset`` the offset.  ``Z`` is never formed: its
    products go through each term's level codes (``bincount``), which costs O(n) per
    product and no sparse-matrix overhead.
    """

    def __init__(self, X: np.ndarray, blocks: list[ReBlock], y: np.ndarray, weights: np.ndarray,
                 offset: np.ndarray, n_trials: np.ndarray, family: Family):
        if not blocks:
            raise ValueError("a mixed model needs at least one random-effects term")
        super().__init__(blocks)
        self.X = np.asarray(X, float)
        self.y = np.asarray(y, float)
        self.n, self.p = self.X.shape
        self.wt = np.asarray(weights, float)
        self.offset = np.asarray(offset, float)
        self.n_trials = np.asarray(n_trials, float)
        self.family = family
        self._aic_c = family.aic_const(self.y, self.n_trials, self.wt)
        self.single_scalar = len(self.blocks) == 1 and self.blocks[0].p == 1
        self._products()

    def with_response(self, y: np.ndarray, family: Family | None = None) -> "GlmmProblem":
        """The same model for a new response (or family: glmer.nb's new theta): X, the
        terms, their column products and the cross-products' sparsity pattern (``_triples``)
        are shared; only the family's data constants are recomputed (lme4's ``refit``)."""
        new = copy.copy(self)
        new.y = np.asarray(y, float)
        new.family = self.family if family is None else family
        new._aic_c = new.family.aic_const(new.y, new.n_trials, new.wt)
        return new

    def _products(self) -> None:
        """Products of term columns, and linear indices of level pairs, for the
        cross-products (caches: left out of a pickle, rebuilt on loading)."""
        self._xx = [[(bk.Xt[:, :, None] * bl.Xt[:, None, :]) for bl in self.blocks]
                    for bk in self.blocks]
        self._pair = {(k, l): self.blocks[k].codes * self.blocks[l].nlevels + self.blocks[l].codes
                      for k in range(1, len(self.blocks)) for l in range(len(self.blocks)) if l <= k}

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_xx", "_pair", "_trip")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._products()

    # -- Z, through level codes -----------------------------------------------------------
    def z_mul(self, b: np.ndarray) -> np.ndarray:
        """``Z b`` (n,)."""
        out = np.zeros(self.n)
        for k, t in enumerate(self.blocks):
            bk = b[self.offsets[k]:self.offsets[k + 1]].reshape(t.nlevels, t.p)
            bc = bk[t.codes]
            for j in range(t.p):
                out += t.Xt[:, j] * bc[:, j]
        return out

    def zt_mul(self, v: np.ndarray) -> np.ndarray:
        """``Z' v`` for v of shape (n,) or (n, k)."""
        v2 = v.reshape(self.n, -1)
        parts = []
        for t in self.blocks:
            blk = np.empty((t.nlevels, t.p, v2.shape[1]))
            for j in range(t.p):
                for c in range(v2.shape[1]):
                    blk[:, j, c] = np.bincount(t.codes, weights=t.Xt[:, j] * v2[:, c],
                                               minlength=t.nlevels)
            parts.append(blk.reshape(t.q, v2.shape[1]))
        out = np.concatenate(parts)
        return out[:, 0] if v.ndim == 1 else out

    def _cross(self, k: int, l: int, w: np.ndarray) -> np.ndarray:
        """Dense ``Z_k' W Z_l`` for terms k >= l (k >= 1)."""
        bk, bl = self.blocks[k], self.blocks[l]
        xx = self._xx[k][l] * w[:, None, None]
        out = np.empty((bk.nlevels, bk.p, bl.nlevels, bl.p))
        size = bk.nlevels * bl.nlevels
        for a in range(bk.p):
            for c in range(bl.p):
                out[:, a, :, c] = np.bincount(self._pair[(k, l)], weights=xx[:, a, c],
                                              minlength=size).reshape(bk.nlevels, bl.nlevels)
        return out.reshape(bk.q, bl.q)

    # -- the factorisation --------------------------------------------------------------
    def _triples(self):
        """For a scalar first term whose ``Z2'Z1`` is sparse enough (an observation-level
        term, nested factors): the fixed pattern of ``Z2'WZ1`` and the pairs of non-zeros
        in each column, so that ``L21 L21'`` costs a gather and a ``bincount`` per
        decomposition instead of a dense ``q2 x q1 x q2`` product (the LMM's "triples"
        mode, :mod:`mlm_wrap.engines.cholesky`, with values that change with W).  None
        where the dense product is cheaper.  Built once."""
        if "_trip" in self.__dict__:
            return self._trip
        self._trip = None
        b1, q1, q2 = self.blocks[0], self.q1, self.q2
        if b1.p != 1 or q2 == 0:
            return None
        rows, vals = [], []
        for k in range(1, len(self.blocks)):
            bk = self.blocks[k]
            for a in range(bk.p):
                rows.append(self.offsets[k] - q1 + bk.codes * bk.p + a)
                vals.append(bk.Xt[:, a] * b1.Xt[:, 0])
        key = np.tile(b1.codes.astype(np.int64), len(rows)) * q2 + np.concatenate(rows)
        uniq, pos = np.unique(key, return_inverse=True)
        r, c = uniq % q2, uniq // q2
        indptr = np.r_[0, np.cumsum(np.bincount(c, minlength=q1))]
        m = np.diff(indptr)
        budget = min(TRIPLE_LIMIT, q2 * q2 * q1 // TRIPLE_COST)
        if int(np.sum(m.astype(np.int64) ** 2)) > budget:
            return None
        pair, pa, pb, col = [], [], [], []
        for mm in np.unique(m[m > 0]):
            cj = np.flatnonzero(m == mm)
            P = indptr[cj][:, None] + np.arange(mm)[None, :]
            R = r[P]
            up = R[:, :, None] >= R[:, None, :]  # the lower triangle, as cholesky's triples
            shape = (len(cj), mm, mm)
            pair.append((R[:, :, None] * q2 + R[:, None, :])[up])
            pa.append(np.broadcast_to(P[:, :, None], shape)[up])
            pb.append(np.broadcast_to(P[:, None, :], shape)[up])
            col.append(np.broadcast_to(cj[:, None, None], shape)[up])
        self._trip = SimpleNamespace(pos=pos.ravel(), vals=np.concatenate(vals), nnz=len(uniq),
                                     r=r, indptr=indptr, nrep=len(rows),
                                     pair=np.concatenate(pair), pa=np.concatenate(pa),
                                     pb=np.concatenate(pb), col=np.concatenate(col))
        return self._trip

    def crossprods(self, w: np.ndarray) -> CrossProducts:
        """``Z'WZ`` at working weights ``w`` in the blocks of the factor: dense, or the
        "triples" form where that is cheaper (:meth:`_triples`)."""
        G11 = level_gram(self.blocks[0], self._xx[0][0], w)
        if self.q2 == 0:
            return CrossProducts(G11, None, None)
        nb = len(self.blocks)
        trip = self._triples()
        if trip is not None:
            data = np.bincount(trip.pos, weights=trip.vals * np.tile(w, trip.nrep),
                               minlength=trip.nnz)
            C21 = sp.csc_matrix((data, trip.r, trip.indptr), shape=(self.q2, self.q1))
            triples = (trip.pair, data[trip.pa] * data[trip.pb], trip.col)
        else:
            C21 = np.concatenate([self._cross(k, 0, w) for k in range(1, nb)])  # Z2'WZ1 (q2, q1)
        C22 = np.zeros((self.q2, self.q2))
        for k in range(1, nb):
            lo_k = self.offsets[k] - self.q1
            for l in range(1, k + 1):
                lo_l = self.offsets[l] - self.q1
                blk = self._cross(k, l, w)
                C22[lo_k:lo_k + blk.shape[0], lo_l:lo_l + blk.shape[1]] = blk
                if l != k:
                    C22[lo_l:lo_l + blk.shape[1], lo_k:lo_k + blk.shape[0]] = blk.T
        if trip is not None:
            return CrossProducts(G11, C21, C22, "triples", triples)
        return CrossProducts(G11, C21, C22, "dense")

    def decompose(self, Ts, w: np.ndarray) -> Chol:
        """Blocked Cholesky of ``Lambda'Z'WZ Lambda + I`` at working weights ``w``."""
        return factor(self, Ts, self.crossprods(w))

    # -- family pieces ------------------------------------------------------------------
    def aic(self, mu: np.ndarray) -> float:
        return self.family.aic(self.y, mu, self.wt, self._aic_c)

    def dev_resid(self, mu: np.ndarray) -> np.ndarray:
        return self.family.dev_resid(self.y, mu, self.wt)

    def mustart(self) -> np.ndarray:
        """glm's ``initialize`` starting values (``mustart``)."""
        if self.family.family == "binomial":
            return (self.wt * self.y + 0.5) / (self.wt + 1.0)
        if self.family.family == "poisson":
            return self.y + 0.1
        if isinstance(self.family, NegBinFamily):
            return self.y + (self.y == 0) / 6.0  # MASS's negative.binomial initialize
        return self.y.copy()  # Gamma, inverse.gaussian, gaussian: mustart <- y

    # -- PIRLS ---------------------------------------------------------------------------
    def linpred(self, Ts, u: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """``X beta + Z Lambda u`` (no offset: lme4's linPred)."""
        return self.X @ beta + self.z_mul(self.lam(Ts, u))

    def pirls(self, theta: np.ndarray, beta: np.ndarray | None = None, *,
              u0: np.ndarray | None = None, eta0: np.ndarray | None = None,
              tol: float = 1e-7, maxit: int = 30, maxhalf: int = 10,
              polish: bool = False) -> PirlsState:
        """Conditional modes at ``theta``: ``u`` given ``beta``, or (``beta=None``, lme4's
        nAGQ = 0 step) ``u`` and ``beta`` jointly.

        Starts from ``u0`` (with ``beta``) or from the linear predictor ``eta0`` (with the
        offset).  By default this is lme4's ``pwrssUpdate`` step for step: stop when the
        penalised deviance changes by less than ``tol`` (relative), halve steps that
        increase it, fail after ``maxit`` iterations.  lme4 stops well short of the mode
        (its Laplace deviance is off by ~1e-4 there, and so are its finite-difference
        derivatives); ``polish=True`` iterates on to rounding level instead, which makes
        the deviance a smooth function of the parameters.
        """
        theta = np.asarray(theta, float)
        joint = beta is None
        Ts = self.factors(theta)
        if u0 is not None and not joint:
            u = np.asarray(u0, float).copy()
            b = np.asarray(beta, float)
            eta = self.offset + self.linpred(Ts, u, b)
        else:
            eta = np.asarray(eta0 if eta0 is not None else self.offset, float).copy()
            u = np.zeros(self.q)
            b = np.zeros(self.p) if joint else np.asarray(beta, float)
        mu = self.family.linkinv(eta)
        oldpdev = np.inf
        cvgd = False
        last = None
        extra = 0
        for it in range(maxit + (25 if polish else 0)):
            mueta = self.family.mu_eta(eta)
            w = self.wt * mueta ** 2 / self.family.variance(mu)
            z = eta - self.offset + (self.y - mu) / mueta  # working response
            if not joint:
                z = z - self.X @ b
            try:
                chol = self.decompose(Ts, w)
            except np.linalg.LinAlgError as e:
                raise PirlsError(f"Cholesky factorisation failed in PIRLS: {e}") from None
            wz = w * z
            cu = chol.solve_L(self.lam_t(Ts, self.zt_mul(wz)))
            RXtRX = None
            if joint and self.p:
                Xw = self.X * w[:, None]
                RZX = chol.solve_L(self.lam_t(Ts, self.zt_mul(Xw)))
                RXtRX = self.X.T @ Xw - RZX.T @ RZX
                try:
                    # Cholesky solve (LAPACK potrf/potrs as solve(assume_a="pos"), without
                    # scipy's LinAlgWarning on an ill-conditioned matrix: extreme scales)
                    b_new = sla.cho_solve(sla.cho_factor(RXtRX), self.X.T @ wz - RZX.T @ cu)
                except (np.linalg.LinAlgError, ValueError) as e:
                    raise PirlsError(f"fixed-effects solve failed in PIRLS: {e}") from None
                u_new = chol.solve_Lt(cu - RZX @ b_new)
            else:
                u_new, b_new = chol.solve_Lt(cu), b
            eta_new = self.offset + self.linpred(Ts, u_new, b_new)
            mu_new = self.family.linkinv(eta_new)
            pdev = float(np.sum(self.dev_resid(mu_new)) + u_new @ u_new)
            change = abs(oldpdev - pdev) / abs(pdev) if np.isfinite(oldpdev) else np.inf
            step = max(np.max(np.abs(u_new - u), initial=0.0), np.max(np.abs(b_new - b), initial=0.0))
            if not cvgd and change < tol:
                cvgd = True
            if not cvgd and (not np.isfinite(pdev) or pdev > oldpdev):
                # lme4: halve the step back towards the previous point
                for _ in range(maxhalf):
                    if np.isfinite(pdev) and pdev <= oldpdev:
                        break
                    u_new = (u + u_new) / 2.0
                    if joint:
                        b_new = (b + b_new) / 2.0
                    eta_new = self.offset + self.linpred(Ts, u_new, b_new)
                    mu_new = self.family.linkinv(eta_new)
                    pdev = float(np.sum(self.dev_resid(mu_new)) + u_new @ u_new)
                if not np.isfinite(pdev) or (pdev - oldpdev) > tol:
                    raise PirlsError("(maxstephalfit) PIRLS step-halvings failed to reduce "
                                     "deviance in pwrssUpdate")
            if polish and cvgd and last is not None and not (
                    np.isfinite(pdev) and pdev <= last[3] + 1e-9 * abs(pdev)):
                break  # rounding level reached: keep the previous iterate
            u, b, eta, mu = u_new, b_new, eta_new, mu_new
            last = (w, chol, RXtRX, pdev, it + 1)
            oldpdev = pdev
            if cvgd:
                if not polish:
                    break
                scale = 1.0 + max(np.max(np.abs(u), initial=0.0), np.max(np.abs(b), initial=0.0))
                extra += 1
                if step < 1e-11 * scale or extra > 8:
                    break
            elif it + 1 >= maxit:
                break
        if not cvgd:
            raise PirlsError("pwrssUpdate did not converge in (maxit) iterations")
        w, chol, RXtRX, pdev, its = last
        return PirlsState(theta=theta, beta=b, u=u, eta=eta, mu=mu, weights=w, chol=chol, Ts=Ts,
                          ldL2=chol.logdet(), pdev=pdev, iterations=its, RXtRX=RXtRX)

    # -- deviances -----------------------------------------------------------------------
    def laplace(self, s: PirlsState) -> float:
        """lme4's ``glmResp::Laplace``: ldL2 + ||u||^2 + aic."""
        return float(s.ldL2 + s.sqrL + self.aic(s.mu))

    def agq(self, s: PirlsState, rule: np.ndarray) -> float:
        """lme4's ``glmerAGQ`` for one scalar random-effects term (``rule``: GHrule)."""
        codes = self.blocks[0].codes
        nl = self.blocks[0].nlevels
        sd = 1.0 / s.chol.L11[:, 0, 0]
        dr0 = self.dev_resid(s.mu)
        devc0 = s.u ** 2 + np.bincount(codes, weights=dr0, minlength=nl)
        fixed = self.offset + self.X @ s.beta
        x1 = self.blocks[0].Xt[:, 0]
        lam = float(s.Ts[0][0, 0])
        # every node at once: (nodes, levels) conditional modes, (nodes, n) deviance residuals
        z, wgt, ldn = rule[:, 0:1], rule[:, 1:2], rule[:, 2:3]
        uk = s.u[None, :] + z * sd[None, :]
        mu_k = self.family.linkinv(fixed[None, :] + (lam * x1)[None, :] * uk[:, codes])
        dr = self.family.dev_resid(self.y[None, :], mu_k, self.wt[None, :])
        k = len(rule)
        devc = uk ** 2 + np.bincount((codes[None, :] + nl * np.arange(k)[:, None]).ravel(),
                                     weights=dr.ravel(), minlength=k * nl).reshape(k, nl)
        mult = np.sum(np.exp(-0.5 * (devc - devc0[None, :]) - ldn) * wgt, axis=0) / SQRT2PI
        return float(devc0.sum() + s.ldL2 - 2.0 * np.sum(np.log(mult)))

    def unscaled_vcov(self, s: PirlsState) -> np.ndarray:
        """lme4's ``pp$unsc()``: (RX'RX)^-1 at the weights of the final PIRLS step."""
        Xw = self.X * s.weights[:, None]
        RZX = s.chol.solve_L(self.lam_t(s.Ts, self.zt_mul(Xw)))
        return np.linalg.inv(self.X.T @ Xw - RZX.T @ RZX)

    def condvar_rel(self, s: PirlsState) -> list[np.ndarray]:
        """Per term, (levels, p, p) blocks of Lambda (L L')^-1 Lambda' (lme4's condVar)."""
        return self.condvar_blocks(s.Ts, s.chol)


# ------------------------------------------------------------------------------ helpers
def ghrule(n: int) -> np.ndarray:
    """lme4's ``GHrule(n)``: nodes z, weights w (for the standard normal, summing to 1)
    and ``dnorm(z, log = TRUE)``, one row per node."""
    z, w = np.polynomial.hermite_e.hermegauss(int(n))
    w = w / SQRT2PI
    return np.column_stack([z, w, -0.5 * z ** 2 - 0.5 * np.log(2.0 * np.pi)])


def deriv12(fun, x: np.ndarray, delta: float = 1e-4, fx: float | None = None):
    """lme4's ``deriv12``: central-difference gradient and Hessian (no bounds)."""
    x = np.asarray(x, float)
    k = len(x)
    fx = fun(x) if fx is None else fx
    H = np.zeros((k, k))
    g = np.zeros(k)

    def at(**moves):
        xx = x.copy()
        for i, d in moves.items():
            xx[int(i[1:])] += d
        return fun(xx)

    for j in range(k):
        fadd = at(**{f"i{j}": delta})
        fsub = at(**{f"i{j}": -delta})
        H[j, j] = fadd / delta ** 2 - 2 * fx / delta ** 2 + fsub / delta ** 2
        g[j] = (fadd - fsub) / (2 * delta)
        for i in range(j):
            faa = at(**{f"i{i}": delta, f"i{j}": delta})
            fas = at(**{f"i{i}": delta, f"i{j}": -delta})
            fsa = at(**{f"i{i}": -delta, f"i{j}": delta})
            fss = at(**{f"i{i}": -delta, f"i{j}": -delta})
            H[i, j] = H[j, i] = (faa - fas - fsa + fss) / (2 * delta) ** 2
    return g, H


__all__ = [
    "Family",
    "GlmmProblem",
    "PirlsError",
    "PirlsState",
    "deriv12",
    "family_name",
    "ghrule",
    "link_name",
    "split_theta",
]
