"""Power by simulation, in the style of R's simr: ``powerSim``, ``extend``, ``powerCurve``.

* :func:`power_sim` (simr's ``powerSim(fit, fixed("x", method), nsim, alpha)``): simulate
  the response from the model's parameters (new random effects and residuals, lme4's
  ``simulate``), refit, test the fixed effect ``x``; the power is the share of p-values
  under ``alpha``, with the exact (Clopper-Pearson) binomial interval simr prints.  Tests:
  ``"lrt"`` (simr's ``"lr"``: the likelihood ratio of ML refits with and without the term),
  ``"satterthwaite"`` / ``"kr"`` (lmerTest's F test of the term, a t test for one
  column, with Satterthwaite or Kenward-Roger df), ``"z"`` (simr's ``"z"``: the Wald z of
  the refit's summary; simr's default for a glmer fit's one-column effect).  Glmer fits
  (binomial ``cbind()`` or proportion with ``weights=``, Poisson with offsets, every family
  lme4's ``simulate`` draws) are simulated, refitted and tested by
  :mod:`mlm_wrap.toolbox.power_glmm`.  ``effect=`` sets the coefficient
  the data are simulated with (otherwise the estimate: an "observed power" calculation,
  which simr flags and so does the printout).
* :func:`extend` (simr's ``extend(fit, along="g", n=40)`` or ``within="x + g"``): more
  groups (new levels copy the rows of the last level, named as simr names them) or more
  rows per cell, the response simulated from the original model's parameters, which the
  extended model keeps for its simulations (a glmer fit's binomial size, weights and
  offset columns copied with the rows; ``data=`` when the fit does not keep them).
* :func:`power_curve` (simr's ``powerCurve(fit, along="g", breaks=)``): ``power_sim`` on
  the rows of the first ``b`` levels (values) of ``along``, for each break ``b``;
  ``mlm_wrap.plots.plot_power_curve`` draws it.

Every simulation is a task of :func:`mlm_wrap.inference.parallel.run_tasks`:
``parallel=``, ``ncpus=``, ``cl=``, ``progress=`` as ``bootMer``'s, the same p-values
on every back end.
"""
from __future__ import annotations

import math
import re
import string
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from mlm_wrap.errors import DataError, ModelError
from mlm_wrap.inference.anova import refit, refit_ml
from mlm_wrap.inference.boot import _criterion_hessian, _simulate_glmm, _simulate_lmm
from mlm_wrap.inference.parallel import run_tasks, spawn_seeds
from mlm_wrap.inference.terms_anova import single_anova
from mlm_wrap.models.base import is_glmm
from mlm_wrap.spec.formula import parse_formula
from mlm_wrap.toolbox.power_glmm import (
    glmm_data,
    glmm_refit_args,
    glmm_state,
    glmm_task,
    simulation,
    write_response,
)
from mlm_wrap.toolbox.update import update

__all__ = ["PowerSim", "PowerCurve", "power_sim", "extend", "power_curve", "binom_exact", "plot_power_curve"]

METHODS = {"lrt": "Likelihood ratio", "z": "z-test",
           "satterthwaite": "t-test with Satterthwaite degrees of freedom (package lmerTest)",
           "kr": "Kenward Roger (package pbkrtest)"}
_ALIASES = {"lr": "lrt", "lrt": "lrt", "z": "z", "satterthwaite": "satterthwaite", "sa": "satterthwaite",
            "t": "satterthwaite", "kr": "kr", "kenward-roger": "kr"}


def binom_exact(x: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """(x/n, lower, upper): R's ``binom.test(x, n)$conf.int`` (Clopper-Pearson), simr's
    ``binom.confint(method = "exact")``."""
    if n == 0:
        return (math.nan, math.nan, math.nan)
    a = (1 - level) / 2
    lo = 0.0 if x == 0 else float(stats.beta.ppf(a, x, n - x + 1))
    hi = 1.0 if x == n else float(stats.beta.ppf(1 - a, x + 1, n - x))
    return x / n, lo, hi


def _pct(v: float, sign: bool) -> str:
    """simr's ``as.percentage1/2``: ``%5.2f``, ``100.0`` for 1."""
    if not np.isfinite(v):
        return "<NA>"
    s = "100.0" if v == 1 else f"{100 * v:5.2f}"
    return s + ("%" if sign else "")


def _interval(x: int, n: int, level: float) -> str:
    if n == 0:
        return "<NA>"
    mean, lo, hi = binom_exact(x, n, level)
    return f"{_pct(mean, True)} ({_pct(lo, False)}, {_pct(hi, False)})"


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600} h {(s // 60) % 60} m {s % 60} s"


def _fmt_level(level: float) -> str:
    return f"{100 * level:g}"


@dataclass
class PowerSim:
    """simr's ``powerSim`` result: ``pval`` (one per simulation; NaN where the refit or
    test failed), the test, ``alpha``, ``nrow`` and the messages by simulation."""

    xname: str
    method: str
    pval: np.ndarray
    alpha: float
    nrow: int
    seconds: float
    effect: float | None = None
    observed: bool = True
    warnings: list = field(default_factory=list)  # (simulation, message)
    errors: list = field(default_factory=list)
    seed: object = None

    @property
    def n(self) -> int:
        return len(self.pval)

    @property
    def successes(self) -> int:
        return int(np.sum(self.pval[np.isfinite(self.pval)] < self.alpha))

    @property
    def power(self) -> float:
        return self.successes / self.n if self.n else math.nan

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """``confint(powerSim)``: the exact binomial interval of the power."""
        _, lo, hi = binom_exact(self.successes, self.n, level)
        a = (1 - level) / 2
        cols = [f"{100 * a:.3g} %", f"{100 * (1 - a):.3g} %"]
        return pd.DataFrame([[lo, hi]], index=["power"], columns=cols)

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """``summary(powerSim)``: successes, trials, mean, lower, upper."""
        mean, lo, hi = binom_exact(self.successes, self.n, level)
        return pd.DataFrame({"successes": [self.successes], "trials": [self.n], "mean": [mean],
                             "lower": [lo], "upper": [hi]})

    def description(self) -> list[str]:
        out = [METHODS[self.method]]
        if self.effect is not None and np.isfinite(self.effect):
            out.append(f"Effect size for {self.xname} is {_sharp_g(self.effect)}")
        return out

    def format(self, level: float = 0.95) -> str:
        """simr's ``print.powerSim``."""
        lines = [f"Power for predictor '{self.xname}', ({_fmt_level(level)}% confidence interval):",
                 "      " + _interval(self.successes, self.n, level), ""]
        pad = "Test: "
        for text in self.description():
            lines.append(pad + text)
            pad = "      "
        wn = len({i for i, _ in self.warnings})
        en = len({i for i, _ in self.errors})
        lines += ["", f"Based on {self.n} simulations, ({wn} {'warning' if wn == 1 else 'warnings'}, "
                      f"{en} {'error' if en == 1 else 'errors'})",
                  f"alpha = {self.alpha:g}, nrow = {self.nrow}", "",
                  f"Time elapsed: {_hms(self.seconds)}"]
        if self.observed:
            lines += ["", "nb: result might be an observed power calculation"]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.format()

    __repr__ = __str__


def _sharp_g(v: float) -> str:
    """R's ``sprintf("%#.2g", v)``."""
    return f"{v:#.2g}"


@dataclass
class PowerCurve:
    """simr's ``powerCurve`` result: one :class:`PowerSim` per break."""

    xname: str
    along: str
    xlab: str
    xval: list
    sims: list
    nlevels: list
    seconds: float

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """``summary(powerCurve)``: nrow, nlevels, successes, trials, mean, lower, upper."""
        rows = [s.summary(level).iloc[0] for s in self.sims]
        out = pd.DataFrame(rows).reset_index(drop=True)
        out.insert(0, "nlevels", self.nlevels)
        out.insert(0, "nrow", [s.nrow for s in self.sims])
        return out

    def format(self) -> str:
        """simr's ``print.powerCurve``."""
        lines = [f"Power for predictor '{self.xname}', (95% confidence interval),",
                 f"by {self.xlab}:"]
        for xv, s in zip(self.xval, self.sims):
            lines.append(f"{str(xv):>7}: {_interval(s.successes, s.n, 0.95)} - {s.nrow} rows")
        lines += ["", f"Time elapsed: {_hms(self.seconds)}"]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.format()

    __repr__ = __str__


# ================================================================================ powerSim
def _params(m) -> dict:
    """The parameters the data are simulated from: an extended model's original ones."""
    p = getattr(m, "sim_params", None)
    if p is not None:
        return {k: np.array(v, copy=True) if k != "sigma" else v for k, v in p.items()}
    return {"beta": np.asarray(m._sol.beta, float).copy(), "theta": np.asarray(m.theta, float),
            "sigma": float(m.sigma())}


def _columns_of(m, test: str) -> list[int]:
    """The fixed-effect columns of term ``test`` (R's ``assign``)."""
    xn = list(m.design.xnames)
    if test in xn:
        return [xn.index(test)]
    cols = [i for i, c in enumerate(xn) if c == test or c.startswith(test)]
    if not cols:
        raise ModelError(f"power_sim(): {test!r} is not a fixed effect of the model "
                         f"(columns: {', '.join(xn)})")
    return cols


def _lmm_pvalue(st: dict, rng: np.random.Generator) -> float:
    """A response from the parameters, the refits, the test's p-value."""
    y = _simulate_lmm(st["prob"], st["params"]["beta"], st["params"]["theta"],
                      st["params"]["sigma"], 1, rng)[:, 0]
    if st["method"] == "lrt":
        full = refit(st["full"], y, _H0=st["H_full"])
        red = refit(st["reduced"], y, _H0=st["H_red"])
        chisq = max(0.0, 2.0 * (float(full.logLik()) - float(red.logLik())))
        return float(stats.chi2.sf(chisq, st["df"]))
    fit = refit(st["full"], y, _H0=st["H_full"])
    if st["method"] == "z":  # simr: lmer's t value taken as z
        t = fit.fixef().iloc[st["col"]] / fit.se_fixef().iloc[st["col"]]
        return float(2 * stats.norm.sf(abs(t)))
    ddf = "Kenward-Roger" if st["method"] == "kr" else "Satterthwaite"
    return float(single_anova(fit, type=3, ddf=ddf).loc[st["term"], "Pr(>F)"])


def _power_task(st: dict, item) -> tuple[float, list[str], str | None]:
    """One simulation of an lmer fit (a worker's task)."""
    return simulation(item, lambda rng: _lmm_pvalue(st, rng))


def _method(method, m, cols: list[int]) -> str:
    """The test: simr's default (a glmer fit's z-test of one coefficient, the likelihood
    ratio for a term of several columns; ``"lrt"`` for an lmer fit) or ``method``."""
    glmm = is_glmm(m)
    if method is None:
        return "z" if glmm and len(cols) == 1 else "lrt"
    meth = _ALIASES.get(str(method).lower())
    if meth is None:
        raise ModelError(f"power_sim(): method must be 'lrt' ('lr'), 'z', 'satterthwaite' or "
                         f"'kr', not {method!r}")
    if glmm and meth in ("satterthwaite", "kr"):
        raise ModelError(f"power_sim(): method={method!r} ({METHODS[meth]}) is a test of lmer "
                         "fits; test a glmer fit with method='z' (simr's default) or 'lr'")
    if meth == "kr" and not m.REML:
        raise ModelError("Kenward-Roger's method is only available for REML model fits")
    if meth == "z" and len(cols) != 1:
        raise ModelError(f"power_sim(): the z-test tests one coefficient; the term has "
                         f"{len(cols)} ({', '.join(m.design.xnames[j] for j in cols)}): test "
                         "one of them or use method='lr'")
    return meth


def power_sim(m, test: str | None = None, nsim: int = 1000, alpha: float = 0.05,
              method: str | None = None, effect: float | None = None, seed=None,
              parallel: str = "no", ncpus: int | None = None, cl=None,
              progress: bool = True) -> PowerSim:
    """simr's ``powerSim(m, fixed(test, method), nsim, alpha)`` for an lmer or glmer fit.

    ``test``: a fixed-effect term or column (default: the first after the intercept, as
    simr); ``method``: ``"lrt"`` (``"lr"``), ``"z"``, ``"satterthwaite"`` (``"sa"``) or
    ``"kr"`` (the last two for lmer fits); by default ``"z"`` for a glmer fit's
    one-column term (simr's default for a GLMM), else ``"lrt"``.  ``effect``: the
    coefficient of a one-column ``test`` the data are simulated with.
    ``str()`` of the result is simr's printout."""
    nsim = int(nsim)
    if nsim < 1:
        raise ValueError("nsim must be a positive integer")
    xn = list(m.design.xnames)
    if test is None:
        test = next((c for c in xn if c != "(Intercept)"), None)
        if test is None:
            raise ModelError("power_sim(): the model has no fixed effect to test")
    cols = _columns_of(m, test)
    meth = _method(method, m, cols)
    params = _params(m)
    if effect is not None:
        if len(cols) != 1:
            raise ValueError(f"effect= sets one coefficient; {test!r} has {len(cols)} columns")
        params["beta"][cols[0]] = float(effect)
    shown = float(params["beta"][cols[0]]) if len(cols) == 1 else None
    task = _power_task
    state = {"prob": m._problem, "params": params, "method": meth, "term": test, "col": cols[0]}
    if is_glmm(m):
        task, state = glmm_task, glmm_state(m, cols, meth, params)
    elif meth == "lrt":
        full = refit_ml(m)
        red = update(full, f". ~ . - {test}", REML=False)
        if red.design.X.shape[1] >= full.design.X.shape[1]:
            raise ModelError(f"power_sim(): dropping {test!r} leaves the model unchanged")
        state.update(full=full, reduced=red, H_full=_criterion_hessian(full),
                     H_red=_criterion_hessian(red), df=full.design.X.shape[1] - red.design.X.shape[1])
    else:
        state.update(full=m, H_full=_criterion_hessian(m))
    seeds, _ = spawn_seeds(seed, nsim)
    t0 = time.perf_counter()
    res = run_tasks(task, state, list(enumerate(seeds)), parallel=parallel, ncpus=ncpus,
                    cl=cl, progress=progress, desc="power")
    secs = time.perf_counter() - t0
    warns = [(i, w) for i, (_, ws, _) in enumerate(res) for w in ws]
    errs = [(i, e) for i, (_, _, e) in enumerate(res) if e is not None]
    return PowerSim(xname=test, method=meth, pval=np.array([r[0] for r in res], float),
                    alpha=float(alpha), nrow=int(m.nobs()), seconds=secs, effect=shown,
                    observed=effect is None and getattr(m, "observed_power", True),
                    warnings=warns, errors=errs, seed=seed)


# ================================================================================ extend
def _new_values(x: list, k: int) -> list:
    """simr's ``makeNewValues``: continue a numeric sequence, a prefix + number pattern or
    a letter sequence; else ``New Level 1, ...``."""
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in x):
        step = (x[-1] - x[0]) / (len(x) - 1) if len(x) > 1 else 1
        vals = [x[-1] + step * (i + 1) for i in range(k)]
        return [int(v) if float(v).is_integer() and all(isinstance(u, (int, np.integer)) for u in x)
                else v for v in vals]
    s = [str(v) for v in x]
    if len(s) > 1:
        i = 0
        while i < min(map(len, s)) and len({t[:i + 1] for t in s}) == 1:
            i += 1
        pre, tails = s[0][:i], [t[i:] for t in s]
        if all(re.fullmatch(r"-?\d+", t) for t in tails):
            nums = [int(t) for t in tails]
            if len(set(np.diff(nums))) == 1:
                return [f"{pre}{nums[-1] + (nums[1] - nums[0]) * (j + 1)}" for j in range(k)]
        if all(len(t) == 1 for t in tails):
            for cs in (string.ascii_lowercase, string.ascii_uppercase):
                if all(t in cs for t in tails):
                    idx = [cs.index(t) for t in tails]
                    d = idx[1] - idx[0]
                    new = [idx[-1] + d * (j + 1) for j in range(k)]
                    if len(set(np.diff(idx))) == 1 and all(0 <= v < 26 for v in new):
                        return [pre + cs[v] for v in new]
    if np.mean([len(t) for t in s]) <= 3:  # short labels: a, b, ..., R's make.unique
        seen: dict[str, int] = {}
        out = []
        for j in range(k):
            c = string.ascii_lowercase[j % 26]
            out.append(c if c not in seen else f"{c}.{seen[c]}")
            seen[c] = seen.get(c, 0) + 1
        return out
    return [f"New Level {j + 1}" for j in range(k)]


def _extend_frame(data: pd.DataFrame, along: str | None, n: int | None, within: str | None,
                  values=None) -> pd.DataFrame:
    if within is not None:
        cols = [c.strip() for c in within.split("+")]
        missing = [c for c in cols if c not in data.columns]
        if missing:
            raise DataError(f"extend(): within= names {missing}, not columns of the model's data")
        if n is None:
            raise ValueError("extend(within=) needs n= (rows per cell)")
        parts = []
        for _, cell in data.groupby(cols, sort=False, observed=True):
            idx = np.resize(np.arange(len(cell)), int(n))
            parts.append(cell.iloc[idx])
        return pd.concat(parts, ignore_index=True)
    if along not in data.columns:
        raise DataError(f"extend(): along={along!r} is not a column of the model's data")
    x = data[along]
    start = list(pd.unique(x))
    if values is not None:
        new = list(values)
    elif n is None:
        raise ValueError("extend() needs n= or values=")
    elif n <= len(start):
        new = start[:n]
    else:
        new = start + _new_values(start, int(n) - len(start))
    last = start[-1]
    parts = []
    for v in new:
        src = data[x == (v if v in start else last)].copy()
        if isinstance(x.dtype, pd.CategoricalDtype):
            src[along] = src[along].astype(object)
        src[along] = v
        parts.append(src)
    out = pd.concat(parts, ignore_index=True)
    if isinstance(x.dtype, pd.CategoricalDtype) or x.dtype == object:
        out[along] = out[along].astype(str) if x.dtype == object else pd.Categorical(out[along].astype(str))
    return out


def _model_data(m, data, who: str) -> pd.DataFrame:
    """A copy of the data to extend or cut: an extended model's, ``data=`` (the frame the
    model was fitted to), or the columns the fit keeps (a glmer fit's response rebuilt)."""
    ext = getattr(m, "ext_data", None)
    if ext is not None:
        return ext.copy()
    if data is not None:
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"{who}: data= must be a pandas DataFrame, not {type(data).__name__}")
        return data.copy()
    return glmm_data(m, who) if is_glmm(m) else m.design.frame.copy()


def extend(m, along: str | None = None, n: int | None = None, within: str | None = None,
           values=None, data: pd.DataFrame | None = None):
    """simr's ``extend(m, along = "g", n = 40)`` (or ``within = "x + g", n = 5``, or
    ``values=``): the model refitted to a larger data set whose response is simulated
    from ``m``'s parameters, which the new model keeps (``sim_params``) for
    :func:`power_sim` and :func:`power_curve`.  New rows copy the old rows' columns (a
    binomial size column, a ``weights=`` or offset column with them).  ``data=``: the data
    frame ``m`` was fitted to, needed when the fit does not keep every column its formula
    uses (a glmer fit's ``offset(log(t))``); the user's frame is not modified."""
    if (along is None) == (within is None):
        raise ValueError("extend() needs along= or within=")
    glmm = is_glmm(m)
    d = m.design
    if not glmm and (d.weights is not None or d.offset is not None):
        raise NotImplementedError("extend() of an lmer model with weights or an offset is not available")
    resp = parse_formula(m.formula).response
    data = _model_data(m, data, "extend()")
    if not glmm and resp not in data.columns:
        raise DataError(f"extend(): the response {resp!r} must be a column (not a transformation)")
    new = _extend_frame(data, along, n, within, values)
    params = _params(m)
    rng = np.random.default_rng(np.random.SeedSequence(len(new)))
    if glmm:
        base = update(m, data=new, **glmm_refit_args(m, "extend()"))
        y = _simulate_glmm(base, 1, rng, params["beta"], params["theta"], params["sigma"])[:, 0]
        write_response(base, new, y)
    else:
        base = update(m, data=new)
        y = _simulate_lmm(base._problem, params["beta"], params["theta"], params["sigma"], 1, rng)[:, 0]
        new[resp] = y
    out = refit(base, y)
    out.ext_data = new
    out.sim_params = params
    out.observed_power = getattr(m, "observed_power", True)
    return out


# ============================================================================ powerCurve
def power_curve(m, test: str | None = None, along: str | None = None, breaks=None,
                nsim: int = 1000, alpha: float = 0.05, method: str | None = None,
                effect: float | None = None, seed=None, parallel: str = "no",
                ncpus: int | None = None, cl=None, progress: bool = True,
                data: pd.DataFrame | None = None) -> PowerCurve:
    """simr's ``powerCurve(m, fixed(test, method), along, breaks)``: :func:`power_sim` on
    the rows of the first ``b`` levels (values, in order of appearance) of ``along``,
    ``b`` over ``breaks`` (default: up to 10 even steps from 3 levels), each simulated
    from ``m``'s parameters.  ``data=`` as :func:`extend`'s."""
    data = _model_data(m, data, "power_curve()")
    refit_args = glmm_refit_args(m, "power_curve()") if is_glmm(m) else {}
    if along is None:
        along = m.design.terms[0].name  # simr: the first grouping factor
    if along not in data.columns:
        raise DataError(f"power_curve(): along={along!r} is not a column of the model's data")
    levels = list(pd.unique(data[along]))
    if breaks is None:
        breaks = sorted(set(np.unique(np.round(np.linspace(min(3, len(levels)), len(levels), 10)).astype(int))))
    breaks = [int(b) for b in breaks]
    numeric = pd.api.types.is_numeric_dtype(data[along]) and not isinstance(
        data[along].dtype, pd.CategoricalDtype)
    params = _params(m)
    seeds, _ = spawn_seeds(seed, len(breaks))
    sims, t0 = [], time.perf_counter()
    for b, ss in zip(breaks, seeds):
        sub = data[data[along].isin(levels[:b])].reset_index(drop=True)
        mb = update(m, data=sub, **refit_args)
        mb.sim_params, mb.ext_data = params, sub
        mb.observed_power = getattr(m, "observed_power", True)
        sims.append(power_sim(mb, test=test, nsim=nsim, alpha=alpha, method=method,
                              effect=effect, seed=ss, parallel=parallel, ncpus=ncpus, cl=cl,
                              progress=progress))
    xval = [levels[b - 1] for b in breaks] if numeric else breaks
    xlab = f"largest value of {along}" if numeric else f"number of levels in {along}"
    return PowerCurve(xname=sims[0].xname, along=along, xlab=xlab, xval=xval, sims=sims,
                      nlevels=breaks, seconds=time.perf_counter() - t0)


def plot_power_curve(pc: PowerCurve, ax=None, level: float = 0.95):
    """simr's ``plot(powerCurve)``: the power at each break with its exact binomial
    interval as error bars, a dashed line at 80%; returns the matplotlib Axes."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    est = np.array([binom_exact(s.successes, s.n, level) for s in pc.sims], float)
    x = np.asarray(pc.xval if all(isinstance(v, (int, float, np.number)) for v in pc.xval)
                   else pc.nlevels, float)
    ax.errorbar(x, 100 * est[:, 0], yerr=[100 * (est[:, 0] - est[:, 1]), 100 * (est[:, 2] - est[:, 0])],
                fmt="-o", color="black", capsize=3)
    ax.axhline(80, color="grey", ls="--", lw=1)
    ax.set_ylim(0, 100)
    ax.set_xlabel(pc.xlab)
    ax.set_ylabel(f"power (%), {_fmt_level(level)}% confidence interval")
    ax.set_title(f"Power for predictor '{pc.xname}'")
    return ax
