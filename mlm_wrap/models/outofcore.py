"""``lmer(formula, data=<dask DataFrame | parquet path(s)>)``: the fit without the data in memory.

lme4's profiled criterion needs the data only through cross-products, so the fit is two
passes over the partitions, run by dask (a ``distributed`` client if one is active):

1. :func:`mlm_wrap.spec.chunked.scan_partition`: row counts, the distinct values of factor
   columns and grouping factors (R's levels, as lmer on the concatenated frame has them);
2. :func:`mlm_wrap.spec.chunked.partition_rows` then
   :func:`mlm_wrap.engines.crossprod.partition_sums`: each partition's ``X'X``, ``X'y``,
   ``y'y``, ``Z'X``, ``Z'y``, sparse ``Z'Z`` and ``n`` (weighted, ``sum(log w)``), summed in a
   tree.

lme4's ``optimizeLmer`` path then runs on :class:`~mlm_wrap.engines.crossprod.CrossprodProblem`
and the result is an :class:`OutOfCoreLmerMod`, an :class:`~mlm_wrap.models.lmer.LmerMod`
whose per-row values (``fitted``, ``residuals``, ``predict()``) are :class:`LazyVector` s
computed chunk by chunk on request.  What needs every row at once (refit, bootMer,
Kenward-Roger, hatvalues, pickling) raises :class:`~mlm_wrap.errors.OutOfCoreError`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from mlm_wrap.engines.blas import single_threaded_blas
from mlm_wrap.engines.crossprod import (CrossprodProblem, add_sums, gram_rank_keep,
                                        partition_sums, scale_message)
from mlm_wrap.engines.mixedlm import fit_theta
from mlm_wrap.errors import DataError, ModelError, OutOfCoreError, UnknownColumnError
from mlm_wrap.models.lmer import (DATA_FITTERS, LmerMod, _as_control, _as_start,
                                  _optimizer_args, finish_fit)
from mlm_wrap.spec import checks
from mlm_wrap.spec.chunked import (ChunkedDesign, chunked_design, merge_scans, model_nodes,
                                   partition_rows, refuse_global_transforms, scan_partition)
from mlm_wrap.spec.design import NA_ACTIONS
from mlm_wrap.spec.formula import parse_formula
from mlm_wrap.spec.plan import make_plan


def is_out_of_core(data) -> bool:
    """A dask DataFrame, a parquet path (str or Path) or a list of them."""
    if isinstance(data, (str, os.PathLike)):
        return True
    if isinstance(data, (list, tuple)) and data and all(isinstance(x, (str, os.PathLike)) for x in data):
        return True
    return type(data).__module__.startswith("dask.") and hasattr(data, "to_delayed")


def as_dask(data):
    """The data as a dask DataFrame (parquet files read lazily, partition by partition)."""
    import dask.dataframe as dd
    if isinstance(data, (str, os.PathLike, list, tuple)):
        paths = [str(p) for p in (data if isinstance(data, (list, tuple)) else [data])]
        missing = [p for p in paths if not Path(p).exists()]
        if missing:
            kind = type(data if len(paths) == 1 else data[0]).__name__
            raise DataError(f"data {missing[0]!r} (a {kind}) is read as a parquet path, and there "
                            "is no such file or directory; data must be a DataFrame, a dask "
                            "DataFrame or parquet path(s)")
        try:
            return dd.read_parquet(paths if len(paths) > 1 else paths[0])
        except Exception as e:  # pyarrow's own message, in our error
            raise DataError(f"could not read parquet data {paths[0]!r}: {e}") from None
    return data


def _tree(tasks: list, combine):
    """Pairwise (tree) reduction of dask delayed values: no one task holds all the parts."""
    import dask
    while len(tasks) > 1:
        tasks = [dask.delayed(combine)(a, b) if b is not None else a
                 for a, b in zip(tasks[::2], tasks[1::2] + [None] * (len(tasks) % 2))]
    return tasks[0]


def _sums(cd: ChunkedDesign, part: pd.DataFrame) -> dict:
    """Pass 2 on one partition (runs on a worker)."""
    pr = partition_rows(cd, part)
    checks.check_fixed(pr.X, cd.all_xnames, pr.index)
    out = partition_sums(pr.X, pr.y, pr.weights, pr.offset, pr.terms,
                         [td.factor.nlevels for td in cd.terms])
    r = pr.rows.astype(float)
    out["rowsig"] = np.array([float(len(r)), float(r.sum()), float((r * r).sum())])
    out["sumsq"] = np.einsum("ij,ij->j", pr.X, pr.X)
    return out


def _values(part: pd.DataFrame, cd: ChunkedDesign, beta: np.ndarray, bper: list[np.ndarray],
            keep: list[int], what: str, scale: float) -> pd.Series:
    """Per-row fitted values or residuals of one partition (runs on a worker)."""
    pr = partition_rows(cd, part)
    X = pr.X[:, cd.x_index]
    v = X @ beta + (pr.offset if pr.offset is not None else 0.0)
    for k in keep:
        codes, Xt = pr.terms[k]
        v = v + np.einsum("ij,ij->i", Xt, bper[k][codes])
    if what != "fitted":
        v = pr.y - v
        if what in ("pearson", "deviance") and pr.weights is not None:
            v = v * np.sqrt(pr.weights)
        v = v / scale
    if cd.na_action == "na.exclude":
        full = pd.Series(np.nan, index=part.index[pr.keep])
        full.iloc[np.searchsorted(np.flatnonzero(pr.keep), pr.rows)] = v
        return full
    return pd.Series(v, index=pr.index, dtype=float)


#: partitions computed at a time when per-row values are gathered (LazyVector.partitions)
BATCH = 16


class LazyVector:
    """Per-row values of an out-of-core fit, computed chunk by chunk on request: ``.dask``
    is the dask Series, ``.compute()`` a pandas Series, ``.to_numpy()`` an array (8 bytes a
    row in memory)."""

    def __init__(self, series, n: int, name: str):
        self.dask, self.n, self.name = series, n, name

    def partitions(self, batch: int = BATCH):
        """The partitions' values in order, computed ``batch`` partitions at a time and
        gathered in this process (never concatenated on a worker, whose memory limit may
        be below the whole vector's size)."""
        import dask
        parts = self.dask.to_delayed()
        for i in range(0, len(parts), batch):
            yield from dask.compute(*parts[i:i + batch])

    def compute(self) -> pd.Series:
        return pd.concat(list(self.partitions())).rename(self.name)

    def to_numpy(self) -> np.ndarray:
        return np.concatenate([p.to_numpy() for p in self.partitions()] or [np.zeros(0)])

    def dropna(self) -> "LazyVector":
        return LazyVector(self.dask.dropna(), self.n, self.name)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        a = self.to_numpy()
        return a if dtype is None else a.astype(dtype)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return (f"<LazyVector {self.name!r}: {self.n} rows over {self.dask.npartitions} "
                "partitions; .compute() or .to_numpy() to evaluate>")


class OutOfCoreLmerMod(LmerMod):
    """An lmer fit of data that were never in memory at once (lme4's ``merMod`` numbers
    from the cross-products); per-row values are :class:`LazyVector` s."""

    _ddf = None

    def _lazy(self, what: str, keep: list[int] | None = None, scale: float = 1.0) -> LazyVector:
        keep = list(range(len(self.design.terms))) if keep is None else keep
        meta = pd.Series(dtype=float, name=what)
        s = self._ddf.map_partitions(_values, self.design, self._sol.beta, self._b_per_term(),
                                     keep, what, scale, meta=meta)
        return LazyVector(s, self.nobs(), "fitted" if what == "fitted" else "residuals")

    def fitted(self) -> LazyVector:
        """lme4's ``fitted(m)``, lazily (``.compute()`` for a pandas Series)."""
        return self._lazy("fitted")

    def residuals(self, type: str = "response", scaled: bool = False) -> LazyVector:
        """lme4's ``residuals(m, type =, scaled =)``, lazily."""
        if type not in ("response", "working", "pearson", "deviance"):
            raise ValueError("type must be 'response', 'pearson', 'deviance' or 'working' for an "
                             f"lmer fit, not {type!r}")
        return self._lazy(type, scale=self.sigma() if scaled else 1.0)

    def predict(self, newdata: pd.DataFrame | None = None, re_form=None,
                allow_new_levels: bool = False):
        """lme4's ``predict``: for the fit's own rows lazily (chunk-wise), for a pandas
        ``newdata`` as in memory."""
        if newdata is not None:
            return super().predict(newdata, re_form=re_form, allow_new_levels=allow_new_levels)
        return self._lazy("fitted", keep=self._terms_in(re_form))

    def __getstate__(self) -> dict:
        raise OutOfCoreError("an out-of-core fit cannot be pickled: it keeps a reference to "
                             "the dask data, not the rows (save the data path and refit)")


def lmer_out_of_core(formula: str, data, REML: bool = True, engine: str | None = None,
                     data_name: str | None = None, weights=None, offset=None, subset=None,
                     na_action: str = "na.omit", contrasts: dict | None = None, control=None,
                     start=None) -> OutOfCoreLmerMod:
    """``lme4::lmer`` on data larger than memory (see the module docstring); called by
    :func:`mlm_wrap.lmer` for a dask DataFrame or parquet path(s)."""
    import dask
    if not isinstance(REML, (bool, np.bool_)):
        raise TypeError(f"REML must be True or False, not {REML!r}")
    if engine not in (None, "auto", "sparse"):
        raise OutOfCoreError(f"engine={engine!r} needs the rows in memory; an out-of-core fit "
                             "minimises lme4's criterion from cross-products (engine='sparse')")
    if na_action not in NA_ACTIONS:
        raise ValueError(f"na_action must be one of {', '.join(NA_ACTIONS)}, not {na_action!r}")
    args = {"weights": weights, "offset": offset, "subset": subset}
    for k, v in args.items():
        if v is not None and not isinstance(v, str):
            raise OutOfCoreError(f"{k}= must be a column name or an R expression of the columns "
                                 "for out-of-core data (one value per row cannot be split across "
                                 "the partitions): add it to the data as a column")
    parsed = parse_formula(formula)
    checks.check_terms_present(parsed)
    refuse_global_transforms(parsed, args)
    ddf = as_dask(data)
    cols = [str(c) for c in ddf.columns]
    for t in parsed.random:
        for v in t.group_vars:
            if v not in cols:
                raise UnknownColumnError(f"object {v!r} not found (grouping factor of {t}); "
                                         f"the data's columns: {', '.join(cols[:20])}")
    name = data_name or (str(data) if isinstance(data, (str, os.PathLike)) else None)
    nodes = model_nodes(parsed, cols, args)
    parts = ddf.to_delayed()
    nodes_d = dask.delayed(nodes, pure=True)
    scan = _tree([dask.delayed(scan_partition)(nodes_d, p) for p in parts], merge_scans).compute()
    if na_action == "na.fail" and scan["n_na"]:
        raise DataError(f"missing values in object (na.fail): {scan['n_na']} rows of the model's "
                        "variables have a missing value")
    if scan["n"] == 0:
        raise ModelError("no rows left after removing rows with missing values")
    cd, _ = chunked_design(nodes, ddf.dtypes, scan, contrasts, name, na_action)
    cd_d = dask.delayed(cd, pure=True)
    s = _tree([dask.delayed(_sums)(cd_d, p) for p in parts], add_sums).compute()
    resp = parsed.response.strip()
    if s["y_nonfinite"]:
        raise DataError(f"the response {resp!r} has {s['y_nonfinite']} non-finite value(s); "
                        "remove them or transform the response")
    if cd.n > 1 and s["ymin"] == s["ymax"]:
        raise ModelError(f"the response {resp!r} is constant ({s['ymin']:g} in every row): "
                         "there is no variance to model")
    checks.check_levels(cd.terms, cd.n)
    checks.check_nobs_vs_nre(cd.terms, cd.n)
    keep = gram_rank_keep(s["XtX_raw"])
    if len(keep) < len(cd.all_xnames):
        cd.dropped_columns = [c for j, c in enumerate(cd.all_xnames) if j not in keep]
        k = len(cd.dropped_columns)
        cd.messages.append(f"fixed-effect model matrix is rank deficient so dropping {k} "
                           f"column{'s' if k > 1 else ''} / coefficient{'s' if k > 1 else ''}")
    cd.x_index, cd.xnames = keep, [cd.all_xnames[j] for j in keep]
    msg = scale_message(s["colsum"][keep], s["sumsq"][keep], s["binary"][keep], cd.n)
    if msg:
        cd.messages.append(msg)
    cd.key = (dask.base.tokenize(ddf), tuple(s["rowsig"]), tuple(s["ysum"]))
    n, p = cd.n, len(keep)
    if p == 0:
        REML = False  # lme4: REML with no fixed effects is ML
    if n - p <= 0:
        raise ModelError(f"the fixed effects take all {n} observations ({p} columns)")
    plan = make_plan(cd, REML=REML, engine="sparse")
    ctrl = _as_control(control)
    ix = np.ix_(keep, keep)
    with single_threaded_blas():
        problem = CrossprodProblem([(td.factor.nlevels, td.Xt.shape[1]) for td in cd.terms],
                                   s["ZtZ"], s["ZtX"][:, keep], s["Zty"], s["XtX"][ix],
                                   s["Xty"][keep], s["yty"], n, s["ldW"])
        x0 = _as_start(start, len(problem.lower))
        info = fit_theta(plan, cd, problem, start=x0, **_optimizer_args(ctrl))
        model = OutOfCoreLmerMod(cd, plan, info, problem, data_name=name)
    model._ddf = ddf
    return finish_fit(model, info, ctrl, cd.messages, {
        **args, "na_action": na_action, "contrasts": contrasts, "control": ctrl,
        "start": start}, stacklevel=4)


DATA_FITTERS.append((is_out_of_core, lmer_out_of_core))
