"""lme4's variance parameters: their names, and theta <-> standard deviations / correlations.

:func:`varpar_names` is ``tnames(m, old = FALSE)`` plus ``"sigma"``; the conversions are
lme4's ``Cv_to_Sv`` / ``Sv_to_Cv``; :func:`_which` is ``get.which`` (the ``parm``
argument of ``confint``).  Shared by the profile, the bootstrap and Kenward-Roger.
"""
from __future__ import annotations

import math

import numpy as np

from mlm_wrap.engines.lmm import ReBlock, split_theta
from mlm_wrap.errors import ModelError
from mlm_wrap.models.lmer import LmerMod
from mlm_wrap.rformat import format_num

__all__ = ["varpar_names"]


# =============================================================================== names
def _layout(block: ReBlock) -> list[tuple[int, int]]:
    """(row, col) of each theta entry of a term: lower triangle, column-major (lme4)."""
    return [(i, j) for j in range(block.p) for i in range(j, block.p)]


def varpar_names(m: LmerMod) -> list[str]:
    """lme4's ``tnames(m, old = FALSE, prefix = c("sd", "cor"))`` plus ``"sigma"``."""
    out = []
    for td, blk in zip(m.design.terms, m._problem.blocks):
        e, g = list(td.cnames), td.name
        for i, j in _layout(blk):
            out.append(f"sd_{e[i]}|{g}" if i == j else f"cor_{e[i]}.{e[j]}|{g}")
    return out + ["sigma"]


def _pct_labels(level: float) -> list[str]:
    """R's ``format.perc(c(a, 1 - a), 3)``: ``"2.5 %"``, ``"97.5 %"``."""
    a = (1.0 - level) / 2.0
    return [s.strip() + " %" for s in format_num([100 * a, 100 * (1 - a)], digits=3, trim=True,
                                                 scientific=False)]


# ====================================================== theta <-> sd/cor (Cv_to_Sv etc.)
def _phi_from_theta(blocks: list[ReBlock], theta: np.ndarray) -> np.ndarray:
    """Relative sds and correlations, laid out as theta (lme4's ``Cv_to_Sv`` with s = 1)."""
    out = []
    for blk, th in zip(blocks, split_theta(blocks, theta)):
        T = blk.T(th)
        C = T @ T.T
        sd = np.sqrt(np.clip(np.diag(C), 0.0, None))
        for i, j in _layout(blk):
            if i == j:
                out.append(sd[i])
            else:
                out.append(C[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan)
    return np.asarray(out, float)


def _psd_chol(R: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor of a positive semi-definite correlation matrix (None if not)."""
    p = R.shape[0]
    L = np.zeros_like(R)
    for j in range(p):
        d = R[j, j] - L[j, :j] @ L[j, :j]
        if d < -1e-10:
            return None
        L[j, j] = math.sqrt(max(d, 0.0))
        for i in range(j + 1, p):
            r = R[i, j] - L[i, :j] @ L[j, :j]
            if L[j, j] > 0:
                L[i, j] = r / L[j, j]
            elif abs(r) > 1e-10:
                return None
    return L


def _theta_from_phi(blocks: list[ReBlock], phi: np.ndarray) -> np.ndarray | None:
    """Inverse of :func:`_phi_from_theta` (lme4's ``Sv_to_Cv``); None off the PSD cone."""
    out = []
    for blk, ph in zip(blocks, split_theta(blocks, phi)):
        if blk.p == 1:
            out.append(ph[0])
            continue
        sd = np.zeros(blk.p)
        R = np.eye(blk.p)
        for (i, j), v in zip(_layout(blk), ph):
            if i == j:
                sd[i] = v
            else:
                R[i, j] = R[j, i] = 0.0 if np.isnan(v) else v
        L = _psd_chol(R)
        if L is None:
            return None
        T = sd[:, None] * L
        out.extend(T[i, j] for i, j in _layout(blk))
    return np.asarray(out, float)


def _sdcor(blocks: list[ReBlock], theta: np.ndarray, sigma: float) -> np.ndarray:
    """Absolute sds and correlations of every term, then sigma (``Cv_to_Sv(theta, s=sigma)``)."""
    phi = _phi_from_theta(blocks, theta)
    diag = _diag_mask(blocks)
    return np.append(np.where(diag, sigma * phi, phi), sigma)


def _diag_mask(blocks: list[ReBlock]) -> np.ndarray:
    return np.asarray([i == j for blk in blocks for i, j in _layout(blk)], bool)


def _which(names: list[str], nv: int, parm) -> list[int]:
    """lme4's ``get.which`` for names, ``"theta_"`` (variance parameters) or ``"beta_"``."""
    if parm is None:
        return list(range(len(names)))
    if isinstance(parm, str):
        if parm == "theta_":
            return list(range(nv))
        if parm == "beta_":
            return list(range(nv, len(names)))
        parm = [parm]
    out = []
    for p in parm:
        if isinstance(p, (int, np.integer)):
            out.append(int(p))
        elif p in names:
            out.append(names.index(p))
        else:
            raise ModelError(f"no parameter named {p!r}; the parameters are {names}")
    return out
