"""lme4's ``VarCorr(m)``: the estimated covariance of each random-effects term, and sigma."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlm_wrap.models.base import render


@dataclass
class VarCorrTerm:
    """One random-effects term's covariance (absolute scale)."""

    group: str  # unique name, as R shows it (Subject, Subject.1, cask:batch)
    names: list[str]
    cov: np.ndarray

    @property
    def stddev(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    @property
    def correlation(self) -> np.ndarray:
        sd = self.stddev
        with np.errstate(invalid="ignore", divide="ignore"):
            c = self.cov / np.outer(sd, sd)
        np.fill_diagonal(c, 1.0)
        return c


class VarCorr:
    """lme4's ``VarCorr(m)``: the estimated random-effects covariances and sigma."""

    def __init__(self, terms: list[VarCorrTerm], sigma: float | None, use_sc: bool = True):
        self.terms, self.sigma, self.use_sc = terms, sigma, use_sc

    def __getitem__(self, group: str) -> pd.DataFrame:
        for t in self.terms:
            if t.group == group:
                return pd.DataFrame(t.cov, index=t.names, columns=t.names)
        raise KeyError(group)

    def keys(self) -> list[str]:
        return [t.group for t in self.terms]

    def to_frame(self) -> pd.DataFrame:
        """R's ``as.data.frame(VarCorr(m))``: grp, var1, var2, vcov, sdcor."""
        rows = []
        for t in self.terms:
            n = len(t.names)
            sd, cor = t.stddev, t.correlation
            for i in range(n):
                rows.append((t.group, t.names[i], None, float(t.cov[i, i]), float(sd[i])))
            for j in range(n):  # lower triangle, column-major: (i > j)
                for i in range(j + 1, n):
                    rows.append((t.group, t.names[j], t.names[i], float(t.cov[i, j]), float(cor[i, j])))
        if self.use_sc and self.sigma is not None:
            rows.append(("Residual", None, None, self.sigma ** 2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def __str__(self) -> str:
        return render(self)

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        return render(self, "html")
