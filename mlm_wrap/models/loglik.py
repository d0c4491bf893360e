"""``logLik(m)`` as R returns it (a number with ``df`` and ``nobs``), and R's ``make.unique`` for term names."""
from __future__ import annotations


def make_unique(names: list[str]) -> list[str]:
    """R's ``make.unique``: ``Subject, Subject`` -> ``Subject, Subject.1``."""
    seen: dict[str, int] = {}
    out = []
    used = set(names)
    for nm in names:
        if nm in seen:
            k = seen[nm]
            while True:
                k += 1
                cand = f"{nm}.{k}"
                if cand not in used:
                    break
            seen[nm] = k
            used.add(cand)
            out.append(cand)
        else:
            seen[nm] = 0
            out.append(nm)
    return out


class LogLik(float):
    """A log-likelihood with R's attributes: ``df`` (parameters) and ``nobs``."""

    df: int
    nobs: int

    def __new__(cls, value: float, df: int, nobs: int, REML: bool = False):
        obj = super().__new__(cls, value)
        obj.df, obj.nobs, obj.REML = df, nobs, REML
        return obj

    def __str__(self) -> str:
        from mlm_wrap.rformat import format1
        return f"'log Lik.' {format1(float(self), 7)} (df={self.df})"

    __repr__ = __str__
