"""Issue #16's benchmark grid: lme4, mixedlm and mlm_wrap side by side, one thread each.

    python benchmarks/bench_grid.py                   # the whole grid (takes a while)
    python benchmarks/bench_grid.py --quick           # without the 1e6-row points, InstEval, bootMer
    python benchmarks/bench_grid.py --only sleepstudy,faculty_m3   # selected points (names or substrings)
    python benchmarks/bench_grid.py --list            # the point names
    python benchmarks/bench_grid.py --write           # also write the table into benchmarks/RESULTS.md

Tools: lme4 through ``Rscript`` (when R and lme4 are installed), mixedlm (the pip Rust
port, when importable) and mlm_wrap from this tree; a missing tool or a model it does not
fit shows as n/a.  Every (point, tool) pair runs in its own subprocess with
OMP/OPENBLAS/MKL/RAYON_NUM_THREADS=1 (and threadpoolctl's limit of 1 in Python), so the
thread settings take effect before any library loads.

Data: the bundled data sets (mlm_wrap/datasets/data), simulated data generated once with a
fixed seed, and lme4's InstEval exported from R, all written as CSV to a cache directory
(``--cache``, default $TMPDIR/mlm_wrap_bench) and read by all three tools: the same rows for
everyone.  Factor columns are read as text and made factors (R) / string columns (Python).

Timing: of the fit call only (``lmer``/``glmer``; for the bootstrap point ``bootMer`` on an
already fitted model, for the profile point ``confint(m, method = "profile")``), with the data
already loaded.  Each worker first fits a small warm-up model (imports, lazy loading), then
before every timed repeat takes a fresh copy of the frame, clears the tool's functools caches
(Python) and runs the garbage collector (untimed).  If the median of the first 3 timed fits
is under 0.1 s the point gets 20 repeats (median and IQR), otherwise 3 (median and min-max); see
``--small-repeats``, ``--large-repeats``, ``--huge-repeats``.

Per point: median seconds of each tool, the ratios mlm_wrap/lme4 and mlm_wrap/mixedlm, each
tool's logLik (REML fits: the REML log-likelihood, -REMLcrit/2) and the differences
mlm_wrap - lme4 and mlm_wrap - mixedlm (negative: mlm_wrap stopped short).  Memory: each
worker reports its resident set after loading the data and its peak (VmHWM of
/proc/self/status, read the same way by Python and R), shown for the large points.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import functools
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "mlm_wrap" / "datasets" / "data"
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Side by side with lme4 and mixedlm"
TOOLS = ("lme4", "mixedlm", "mlm_wrap")
THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                               "RAYON_NUM_THREADS", "BLIS_NUM_THREADS")}
SEED = 20261204
SMALL = 0.1  # seconds: a first fit under this gets the small-point repeats

# ---------------------------------------------------------------------------------------
# The grid
# ---------------------------------------------------------------------------------------


def _p(name, label, data, formula, kind="lmer", REML=True, family=None, big=False,
       heavy=False, **extra):
    """One grid point.  ``heavy``: skipped by --quick (1e6 rows, InstEval, bootMer)."""
    return dict(name=name, label=label, data=data, formula=formula, kind=kind, REML=REML,
                family=family, big=big, heavy=heavy, **extra)


SLEEP = "Reaction ~ Days + (Days | Subject)"
M3 = "salary ~ experience + (1 + experience | department)"

POINTS = [
    _p("sleepstudy", "sleepstudy `(Days | Subject)`", "sleepstudy", SLEEP),
    _p("faculty_m1", "faculty m1 `(1 | department)`", "faculty",
       "salary ~ experience + (1 | department)"),
    _p("faculty_m2", "faculty m2 `(0 + experience | department)`", "faculty",
       "salary ~ experience + (0 + experience | department)"),
    _p("faculty_m3", "faculty m3 `(1 + experience | department)`", "faculty", M3),
    _p("penicillin", "Penicillin `(1 | plate) + (1 | sample)`", "Penicillin",
       "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    _p("pastes", "Pastes `(1 | batch/cask)`", "Pastes", "strength ~ 1 + (1 | batch/cask)"),
    _p("int_1e3_100", "`(1 | g)` n 1e3, 100 groups", "int_1000_100", "y ~ x + (1 | g)"),
    _p("int_1e5_100", "`(1 | g)` n 1e5, 100 groups", "int_100000_100", "y ~ x + (1 | g)", big=True),
    _p("int_1e5_1e4", "`(1 | g)` n 1e5, 1e4 groups", "int_100000_10000", "y ~ x + (1 | g)", big=True),
    _p("int_1e6_100", "`(1 | g)` n 1e6, 100 groups", "int_1000000_100", "y ~ x + (1 | g)",
       big=True, heavy=True),
    _p("int_1e6_1e4", "`(1 | g)` n 1e6, 1e4 groups", "int_1000000_10000", "y ~ x + (1 | g)",
       big=True, heavy=True),
    _p("slope_1e3_100", "`(1 + x | g)` n 1e3, 100 groups", "slope_1000_100", "y ~ x + (1 + x | g)"),
    _p("slope_1e5_1000", "`(1 + x | g)` n 1e5, 1000 groups", "slope_100000_1000",
       "y ~ x + (1 + x | g)", big=True),
    _p("crossed_1e4_100x50", "crossed 100 x 50, n 1e4", "crossed_10000_100_50",
       "y ~ x + (1 | a) + (1 | b)"),
    _p("crossed_1e4_1000x500", "crossed 1000 x 500, n 1e4", "crossed_10000_1000_500",
       "y ~ x + (1 | a) + (1 | b)"),
    _p("crossed_1e5_100x50", "crossed 100 x 50, n 1e5", "crossed_100000_100_50",
       "y ~ x + (1 | a) + (1 | b)", big=True),
    _p("crossed_1e5_1000x500", "crossed 1000 x 500, n 1e5", "crossed_100000_1000_500",
       "y ~ x + (1 | a) + (1 | b)", big=True),
    _p("insteval_ml", "InstEval (ML) `service + (1|s) + (1|d) + (1|dept)`", "InstEval",
       "y ~ service + (1 | s) + (1 | d) + (1 | dept)", REML=False, big=True, heavy=True),
    _p("cbpp", "cbpp binomial glmer `(1 | herd)`", "cbpp",
       "cbind(incidence, size - incidence) ~ period + (1 | herd)", kind="glmer",
       family="binomial",
       # mixedlm's parser has no cbind(): the same model as a proportion with weights = size
       mixedlm_formula="prop ~ period + (1 | herd)", mixedlm_weights="size"),
    _p("poisson_1e5_1e3", "Poisson glmer `(1 | g)` n 1e5, 1e3 groups", "pois_100000_1000",
       "y ~ x + (1 | g)", kind="glmer", family="poisson", big=True),
    _p("bootmer_sleepstudy", "bootMer sleepstudy, {nsim} refits", "sleepstudy", SLEEP,
       kind="boot", nsim=1000, heavy=True),
    _p("profile_faculty_m3", "profile confint faculty m3", "faculty", M3, kind="profile"),
]

# Published models (the acceptance set's kind: textbook data from R's lme4, nlme, mlmRev and
# MASS, exported once by Rscript, factors as plain labels; binary responses as 0/1). Where
# mixedlm's parser rejects the published formula (I(), scale()), ``mixedlm_formula`` names
# the same model on columns computed at export.
PUBLISHED_DATA = {  # data key -> (R code that makes `d`, factor columns)
    "pub_BodyWeight": ("d <- as.data.frame(nlme::BodyWeight)[c('weight', 'Time', 'Rat', 'Diet')]",
                       ["Rat", "Diet"]),
    "pub_Orthodont": ("d <- as.data.frame(nlme::Orthodont)", ["Subject", "Sex"]),
    "pub_ergoStool": ("d <- as.data.frame(nlme::ergoStool)", ["Subject", "Type"]),
    "pub_Machines": ("d <- as.data.frame(nlme::Machines); d$WM <- paste(d$Worker, d$Machine, sep = ':')",
                     ["Worker", "Machine", "WM"]),
    "pub_Early": ("d <- mlmRev::Early", ["id", "trt"]),
    "pub_Exam": ("d <- mlmRev::Exam[c('normexam', 'standLRT', 'sex', 'schgend', 'school')]",
                 ["sex", "schgend", "school"]),
    "pub_ScotsSec": ("d <- mlmRev::ScotsSec", ["primary", "second", "sex"]),
    "pub_Chem97": ("d <- mlmRev::Chem97[c('score', 'gcsecnt', 'school', 'lea')]", ["school", "lea"]),
    "pub_Contraception": ("d <- mlmRev::Contraception; d$use <- as.integer(d$use == 'Y'); "
                          "d$age2 <- d$age^2", ["district", "urban", "livch", "woman"]),
    "pub_VerbAgg": ("d <- lme4::VerbAgg[c('r2', 'Anger', 'Gender', 'btype', 'situ', 'id', 'item')]; "
                    "d$r2 <- as.integer(d$r2 == 'Y')", ["Gender", "btype", "situ", "id", "item"]),
    "pub_grouseticks": ("d <- lme4::grouseticks; d$cHEIGHT <- as.numeric(scale(d$HEIGHT))",
                        ["INDEX", "BROOD", "LOCATION", "YEAR"]),
}

POINTS += [
    _p("pub_bodyweight", "BodyWeight `weight ~ Time + (Time || Rat)`", "pub_BodyWeight",
       "weight ~ Time + (Time || Rat)", published=True),
    _p("pub_orthodont", "Orthodont `distance ~ age + Sex + (age | Subject)`", "pub_Orthodont",
       "distance ~ age + Sex + (age | Subject)", published=True),
    _p("pub_ergostool", "ergoStool `effort ~ Type + (1 | Subject)`", "pub_ergoStool",
       "effort ~ Type + (1 | Subject)", published=True),
    _p("pub_machines", "Machines `score ~ Machine + (1 | Worker) + (1 | Worker:Machine)`",
       "pub_Machines", "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", published=True,
       mixedlm_formula="score ~ Machine + (1 | Worker) + (1 | WM)"),
    _p("pub_early", "Early `cog ~ age * trt + (age | id)`", "pub_Early",
       "cog ~ age * trt + (age | id)", published=True),
    _p("pub_exam", "Exam `normexam ~ standLRT + sex + schgend + (standLRT | school)`", "pub_Exam",
       "normexam ~ standLRT + sex + schgend + (standLRT | school)", published=True),
    _p("pub_scotssec", "ScotsSec `attain ~ verbal * sex + (1 | primary) + (1 | second)`",
       "pub_ScotsSec", "attain ~ verbal * sex + (1 | primary) + (1 | second)", published=True),
    _p("pub_chem97", "Chem97 `score ~ gcsecnt + (1 | school) + (1 | lea)`", "pub_Chem97",
       "score ~ gcsecnt + (1 | school) + (1 | lea)", published=True, big=True),
    _p("pub_contraception", "Contraception binomial `use ~ age + I(age^2) + urban + livch + (1 | district)`",
       "pub_Contraception", "use ~ age + I(age^2) + urban + livch + (1 | district)", kind="glmer",
       family="binomial", published=True,
       mixedlm_formula="use ~ age + age2 + urban + livch + (1 | district)"),
    _p("pub_verbagg", "VerbAgg binomial `r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)`",
       "pub_VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", kind="glmer",
       family="binomial", published=True, big=True),
    _p("pub_grouseticks", "grouseticks Poisson `TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION)`",
       "pub_grouseticks", "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION)",
       kind="glmer", family="poisson", published=True,
       mixedlm_formula="TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"),
    _p("pub_grouseticks_olre", "grouseticks Poisson, observation-level `(1 | INDEX) + (1 | LOCATION/BROOD)`",
       "pub_grouseticks", "TICKS ~ YEAR + (1 | INDEX) + (1 | LOCATION/BROOD)",
       kind="glmer", family="poisson", published=True),
]

# mixedlm's profile() and confint(method="profile") cover the fixed effects only (lme4's and
# mlm_wrap's cover every parameter): not the same work, so n/a.
UNSUPPORTED = {("mixedlm", "profile")}

# ---------------------------------------------------------------------------------------
# Data: generated once, fixed seeds, CSV files in the cache
# ---------------------------------------------------------------------------------------


def _labels(prefix: str, idx, width: int):
    import numpy as np
    return np.char.add(prefix, np.char.zfill(idx.astype(str), width))


def _simulate(key: str):
    """The simulated frames; ``key`` is kind_n_groups[_groups2]."""
    import numpy as np
    import pandas as pd
    kind, *nums = key.split("_")
    nums = [int(v) for v in nums]
    rng = np.random.default_rng([SEED, sum(map(ord, key))])
    n = nums[0]
    x = rng.normal(size=n)
    if kind in ("int", "slope", "pois"):
        G = nums[1]
        g = rng.integers(0, G, n)
        u0 = rng.normal(0, 1.0 if kind != "pois" else 0.5, G)
        if kind == "int":
            y = 1 + 0.5 * x + u0[g] + rng.normal(size=n)
        elif kind == "slope":
            u1 = rng.normal(0, 0.5, G)
            y = 2 + 0.5 * x + u0[g] + u1[g] * x + rng.normal(size=n)
        else:
            y = rng.poisson(np.exp(0.5 + 0.3 * x + u0[g]))
        return pd.DataFrame({"y": y, "x": x, "g": _labels("g", g, len(str(G)))}), ["g"]
    if kind == "crossed":
        A, B = nums[1], nums[2]
        a, b = rng.integers(0, A, n), rng.integers(0, B, n)
        y = 1 + 0.5 * x + rng.normal(size=A)[a] + rng.normal(0, 0.7, B)[b] + rng.normal(size=n)
        return pd.DataFrame({"y": y, "x": x, "a": _labels("a", a, len(str(A))),
                             "b": _labels("b", b, len(str(B)))}), ["a", "b"]
    raise KeyError(key)


def prepare(data: str, cache: Path) -> tuple[Path, list[str]]:
    """The CSV of a data set in the cache (made if missing) and its factor columns."""
    cache.mkdir(parents=True, exist_ok=True)
    csv, meta = cache / f"{data}.csv", cache / f"{data}.factors.json"
    if csv.exists() and meta.exists():
        return csv, json.loads(meta.read_text())
    tmp = csv.with_suffix(".csv.part")
    if (BUNDLED / f"{data}.csv").exists():
        import pandas as pd
        factors = list(json.loads((BUNDLED / f"{data}.levels.json").read_text()) or {})
        df = pd.read_csv(BUNDLED / f"{data}.csv", dtype={c: str for c in factors})
        if data == "cbpp":
            df["prop"] = df["incidence"] / df["size"]
        df.to_csv(tmp, index=False)
    elif data in PUBLISHED_DATA:
        code, factors = PUBLISHED_DATA[data]
        if not shutil.which("Rscript"):
            raise RuntimeError(f"{data} is exported from R; Rscript is not available")
        code = (f"suppressMessages({{{code}}}); d <- as.data.frame(d); "
                "for (f in names(d)) if (is.factor(d[[f]])) d[[f]] <- as.character(d[[f]]); "
                f"write.csv(d, '{tmp}', row.names = FALSE)")
        subprocess.run(["Rscript", "-e", code], check=True, capture_output=True)
    elif data == "InstEval":
        factors = ["s", "d", "dept", "service"]
        if not shutil.which("Rscript"):
            raise RuntimeError("InstEval is exported from R's lme4; Rscript is not available")
        code = ("d <- lme4::InstEval[c('y', 'service', 's', 'd', 'dept')];"
                f"write.csv(d, '{tmp}', row.names = FALSE)")
        subprocess.run(["Rscript", "-e", code], check=True, capture_output=True)
    else:
        df, factors = _simulate(data)
        df.to_csv(tmp, index=False, float_format="%.17g")
    tmp.replace(csv)
    meta.write_text(json.dumps(factors))
    return csv, factors


# ---------------------------------------------------------------------------------------
# Workers (one subprocess per point and tool)
# ---------------------------------------------------------------------------------------


def _proc_status() -> dict:
    """VmRSS and VmHWM (MiB) of this process."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def _clear_caches(prefixes) -> None:
    """cache_clear() every functools cache in the tool's modules (lru_cache, cache)."""
    for name, mod in list(sys.modules.items()):
        if mod is None or not name.startswith(prefixes):
            continue
        for obj in list(vars(mod).values()):
            clear = getattr(obj, "cache_clear", None)
            if callable(clear) and isinstance(obj, functools._lru_cache_wrapper):
                clear()


def _repeat(task: dict, setup, fit, prefixes) -> tuple[list[float], object]:
    """Time ``fit(setup())`` (the setup untimed) with the repeat rule of the module doc."""
    times, res = [], None
    while True:
        _clear_caches(prefixes)
        arg = setup()
        gc.collect()
        t0 = time.perf_counter()
        res = fit(arg)
        times.append(time.perf_counter() - t0)
        # 3 runs decide: a median under SMALL seconds asks for the small-point repeats
        small = statistics.median(times[:3]) < task["small"]
        want = task["small_repeats"] if small else task["large_repeats"]
        if len(times) >= max(want, min(3, task["large_repeats"])):
            return times, res


def _python_worker(tool: str, task: dict) -> dict:
    import pandas as pd
    warnings.simplefilter("ignore")
    df0 = pd.read_csv(task["csv"], dtype={c: str for c in task["factors"]})
    sleep = pd.read_csv(BUNDLED / "sleepstudy.csv", dtype={"Subject": str})
    cbpp = pd.read_csv(BUNDLED / "cbpp.csv", dtype={"herd": str, "period": str})
    kind, formula, REML = task["kind"], task["formula"], task["REML"]
    if tool == "mlm_wrap":
        sys.path.insert(0, str(ROOT))
        import mlm_wrap as mw
        prefixes = ("mlm_wrap",)
        mw.lmer(SLEEP, data=sleep.copy())  # warm-up
        if kind == "glmer":
            mw.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", data=cbpp.copy(),
                     family="binomial")

        def lmer(d):
            return mw.lmer(formula, data=d, REML=REML)

        if kind == "lmer":
            setup, fit = (lambda: df0.copy()), lmer
        elif kind == "glmer":
            setup, fit = (lambda: df0.copy()), (lambda d: mw.glmer(formula, data=d,
                                                                   family=task["family"]))
        elif kind == "boot":
            setup = lambda: lmer(df0.copy())
            fit = lambda m: mw.bootMer(m, task["nsim"], seed=1, FUN=mw.fixef,
                                       progress=False)
        else:
            setup = lambda: lmer(df0.copy())
            fit = lambda m: mw.confint(m, method="profile")

        def loglik(r):
            return float(mw.logLik(r))
    else:
        import mixedlm as ml
        prefixes = ("mixedlm",)
        ml.lmer(SLEEP, sleep.copy())  # warm-up
        fam = {"binomial": "Binomial", "poisson": "Poisson"}
        if kind == "glmer":
            c = cbpp.copy()
            c["prop"] = c["incidence"] / c["size"]
            ml.glmer("prop ~ period + (1 | herd)", c, family=ml.families.Binomial(),
                     weights=c["size"].to_numpy(float))

        def lmer(d):
            return ml.lmer(task.get("mixedlm_formula") or formula, d, REML=REML)

        if kind == "lmer":
            setup, fit = (lambda: df0.copy()), lmer
        elif kind == "glmer":
            f = task.get("mixedlm_formula") or formula
            wcol = task.get("mixedlm_weights")

            def fit(d):
                kw = {"weights": d[wcol].to_numpy(float)} if wcol else {}
                return ml.glmer(f, d, family=getattr(ml.families, fam[task["family"]])(), **kw)
            setup = lambda: df0.copy()
        elif kind == "boot":
            setup = lambda: lmer(df0.copy())
            fit = lambda m: ml.bootMer(m, nsim=task["nsim"], seed=1)
        else:
            raise NotImplementedError(kind)

        def loglik(r):
            return float(r.logLik())
    try:  # after the imports: threadpoolctl limits the libraries loaded so far
        from threadpoolctl import threadpool_info, threadpool_limits
        threadpool_limits(1)
    except ImportError:
        threadpool_info = None
    mem0 = _proc_status().get("VmRSS")
    times, res = _repeat(task, setup, fit, prefixes)
    out = {"times": times, "rss_loaded_mib": mem0, "peak_mib": _proc_status().get("VmHWM"),
           "logLik": loglik(res) if kind in ("lmer", "glmer") else None}
    if threadpool_info is not None:
        out["blas_threads"] = sorted({d["num_threads"] for d in threadpool_info()})
    return out


R_WORKER = r"""
suppressMessages(library(lme4))
task <- jsonlite::fromJSON(commandArgs(TRUE)[1])
status <- function(key) {
  l <- readLines("/proc/self/status")
  as.numeric(gsub("[^0-9]", "", l[startsWith(l, paste0(key, ":"))])) / 1024
}
cc <- rep("character", length(task$factors)); names(cc) <- task$factors
d0 <- read.csv(task$csv, colClasses = cc)
for (f in task$factors) d0[[f]] <- factor(d0[[f]])
form <- as.formula(task$formula)
invisible(suppressWarnings(lmer(Reaction ~ Days + (Days | Subject), sleepstudy)))  # warm-up
if (task$kind == "glmer")
  invisible(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial))
fam <- if (is.null(task$family)) NULL else get(task$family)
lmer1 <- function(d) lmer(form, data = d, REML = task$REML)
setup <- if (task$kind %in% c("lmer", "glmer")) function() d0 else function() lmer1(d0)
fit <- switch(task$kind,
  lmer = lmer1,
  glmer = function(d) glmer(form, data = d, family = fam),
  boot = function(m) bootMer(m, fixef, nsim = task$nsim, seed = 1),
  profile = function(m) confint(m, method = "profile"))
mem0 <- status("VmRSS")
times <- c()
repeat {
  a <- setup()
  invisible(gc())
  t0 <- Sys.time()
  res <- suppressWarnings(suppressMessages(fit(a)))
  times <- c(times, as.numeric(difftime(Sys.time(), t0, units = "secs")))
  want <- if (median(times[1:min(3, length(times))]) < task$small) task$small_repeats else task$large_repeats
  if (length(times) >= max(want, min(3, task$large_repeats))) break
}
ll <- if (task$kind %in% c("lmer", "glmer")) as.numeric(logLik(res)) else NULL
cat("RESULT", jsonlite::toJSON(list(times = times, rss_loaded_mib = mem0,
    peak_mib = status("VmHWM"), logLik = ll), auto_unbox = TRUE, digits = NA, null = "null"), "\n")
"""


def run_tool(tool: str, point: dict, csv: Path, factors: list[str], args) -> dict:
    """Run one (point, tool) in a subprocess; its result or {'na': reason}."""
    if (tool, point["kind"]) in UNSUPPORTED:
        return {"na": "not supported"}
    large = args.large_repeats
    if point["heavy"] and args.huge_repeats:
        large = args.huge_repeats
    task = {k: v for k, v in point.items() if k not in ("label",)}
    if point["kind"] == "boot":
        task["nsim"] = args.nsim
    task.update(csv=str(csv), factors=factors, small=SMALL, small_repeats=args.small_repeats,
                large_repeats=large)
    env = dict(os.environ, **THREAD_ENV)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if tool == "lme4":
        if not shutil.which("Rscript"):
            return {"na": "no Rscript"}
        with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
            fh.write(R_WORKER)
        cmd = ["Rscript", fh.name, json.dumps(task)]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", tool, json.dumps(task)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout,
                             check=False)
    except subprocess.TimeoutExpired:
        return {"na": f"timeout {args.timeout} s"}
    finally:
        if tool == "lme4":
            Path(fh.name).unlink(missing_ok=True)
    for line in out.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    err = (out.stderr.strip().splitlines() or ["?"])[-1]
    return {"na": "error", "error": err[:300]}


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def _fmt_t(s: float | None) -> str:
    if s is None:
        return "n/a"
    if s < 1:
        return f"{s * 1e3:.3g} ms" if s >= 0.001 else f"{s * 1e3:.2f} ms"
    return f"{s:.3g} s"


def _summary(r: dict) -> tuple[float | None, str]:
    """(median, 'median (spread, n)') of one tool's times; the spread in the median's unit."""
    if "times" not in r:
        return None, "n/a" if r.get("na") != "error" else "error"
    t = sorted(r["times"] if isinstance(r["times"], list) else [r["times"]])  # R unboxes one time
    med = statistics.median(t)
    scale, unit = (1e3, "ms") if med < 1 else (1.0, "s")

    def f(v: float) -> str:
        v *= scale
        return f"{v:.0f}" if v >= 100 else f"{v:.3g}"
    if len(t) >= 20:
        q = statistics.quantiles(t, n=4)
        spread = f"IQR {f(q[0])}-{f(q[2])}"
    elif len(t) > 1:
        spread = f"{f(t[0])}-{f(t[-1])}"
    else:
        spread = "1 run"
    return med, f"{f(med)} {unit} ({spread}, n={len(t)})"


def _ratio(a, b) -> str:
    return "n/a" if a is None or b is None or b <= 0 else f"{a / b:.2f}"


def _ll(r: dict) -> float | None:
    return r.get("logLik") if "times" in r else None


def _diff(a, b) -> str:
    return "n/a" if a is None or b is None else f"{a - b:+.2g}"


def table(results: list[tuple[dict, dict]]) -> str:
    rows = [("| point | lme4 | mixedlm | mlm_wrap | mlm_wrap / lme4 | mlm_wrap / mixedlm "
            "| logLik lme4 | logLik mixedlm | logLik mlm_wrap | mlm_wrap - lme4 | mlm_wrap - mixedlm |"),
            "|---" * 11 + "|"]
    for point, res in results:
        med = {t: _summary(res[t]) for t in TOOLS}
        ll = {t: _ll(res[t]) for t in TOOLS}
        lls = ["n/a" if v is None else f"{v:.4f}" for v in (ll[t] for t in TOOLS)]
        rows.append(
            f"| {point['label'].replace('|', chr(92) + '|')} | " + " | ".join(med[t][1] for t in TOOLS)
            + f" | {_ratio(med['mlm_wrap'][0], med['lme4'][0])}"
            + f" | {_ratio(med['mlm_wrap'][0], med['mixedlm'][0])} | " + " | ".join(lls)
            + f" | {_diff(ll['mlm_wrap'], ll['lme4'])} | {_diff(ll['mlm_wrap'], ll['mixedlm'])} |")
    return "\n".join(rows)


def memory_table(results) -> str:
    rows = ["| point | lme4 loaded / peak | mixedlm loaded / peak | mlm_wrap loaded / peak |",
            "|---|---|---|---|"]
    for point, res in results:
        if not point["big"]:
            continue
        cells = []
        for t in TOOLS:
            r = res[t]
            cells.append(f"{r['rss_loaded_mib']:.0f} / {r['peak_mib']:.0f} MiB"
                         if "times" in r and r.get("peak_mib") else "n/a")
        rows.append(f"| {point['label'].replace('|', chr(92) + '|')} | " + " | ".join(cells) + " |")
    return "\n".join(rows) if len(rows) > 2 else ""


def goals(results) -> str:
    """Issue #16's goal per point: ratio to lme4 <= 1, to mixedlm <= 2, logLik not short;
    the issue's grid and the published models counted apart."""
    grid = [(p, r) for p, r in results if not p.get("published")]
    pub = [(p, r) for p, r in results if p.get("published")]
    parts = [_goal(grid, "the issue's grid")] if grid else []
    if pub:
        parts.append(_goal(pub, "the published models"))
    return "\n\n".join(parts)


def _goal(results, what: str) -> str:
    met, missed = 0, []
    for point, res in results:
        med = {t: _summary(res[t])[0] for t in TOOLS}
        ll = {t: _ll(res[t]) for t in TOOLS}
        why = []
        if med["mlm_wrap"] is None:
            missed.append(f"{point['name']} (no mlm_wrap time)")
            continue
        if med["lme4"] is not None and med["mlm_wrap"] > med["lme4"]:
            why.append(f"{med['mlm_wrap'] / med['lme4']:.2f}x lme4")
        if med["mixedlm"] is not None and med["mlm_wrap"] > 2 * med["mixedlm"]:
            why.append(f"{med['mlm_wrap'] / med['mixedlm']:.2f}x mixedlm")
        if ll["mlm_wrap"] is not None and ll["lme4"] is not None and ll["mlm_wrap"] < ll["lme4"] - 1e-6:
            why.append(f"logLik {ll['mlm_wrap'] - ll['lme4']:+.2g} vs lme4")
        if why:
            missed.append(f"{point['name']} ({', '.join(why)})")
        else:
            met += 1
    return (f"Issue #16's goal (mlm_wrap / lme4 <= 1, mlm_wrap / mixedlm <= 2, logLik not short of "
            f"lme4's by more than 1e-6), {what}: met on {met} of {len(results)} points"
            + (f"; missed on {', '.join(missed)}." if missed else "."))


def notes(results) -> list[str]:
    out = []
    for point, res in results:
        for t in TOOLS:
            r = res[t]
            if r.get("na") == "error":
                out.append(f"- {point['name']} / {t}: error: `{r.get('error', '')}`")
            elif r.get("na") and r["na"] != "not supported":
                out.append(f"- {point['name']} / {t}: {r['na']}")
    return out


def machine() -> dict:
    info = {"cpu": platform.processor() or "?", "cores": os.cpu_count(), "ram": "?"}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram"] = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    return info


def _commit() -> str:
    """HEAD of this tree, and whether mlm_wrap/ has uncommitted changes (then measured too)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "mlm_wrap"],
                               capture_output=True, text=True, check=False).stdout.strip()
        return (head or "?") + (" (with uncommitted changes under mlm_wrap/)" if dirty else "")
    except OSError:
        return "?"


def versions() -> dict:
    import numpy
    import scipy
    v = {"python": platform.python_version(), "numpy": numpy.__version__, "scipy": scipy.__version__}
    try:
        import mixedlm
        v["mixedlm"] = mixedlm.__version__
    except ImportError:
        v["mixedlm"] = "n/a (not installed)"
    sys.path.insert(0, str(ROOT))
    import mlm_wrap
    v["mlm_wrap"] = getattr(mlm_wrap, "__version__", "?")
    v["mlm_wrap_commit"] = _commit()
    v["R"], v["lme4"], v["R_BLAS"] = "n/a", "n/a", "n/a"
    if shutil.which("Rscript"):
        code = ("cat(paste(R.version$major, R.version$minor, sep='.'), "
                "as.character(packageVersion('lme4')), basename(sessionInfo()$BLAS), sep='\\n')")
        out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=False)
        parts = out.stdout.split("\n")
        if out.returncode == 0 and len(parts) >= 3:
            v["R"], v["lme4"], v["R_BLAS"] = parts[0], parts[1], parts[2]
    return v


def report(results, args, started: float) -> str:
    m, v = machine(), versions()
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    loads = [r["load1"] for _, res in results for r in res.values() if "load1" in r] or [0.0]
    cmd = "python benchmarks/bench_grid.py " + " ".join(a for a in (args.argv or []) if a != "--write")
    lines = [
        SECTION, "",
        (f"`{cmd.strip()}`, {when}, {(time.time() - started) / 60:.0f} min wall time; the 1-minute "
        f"load average after each tool's run went from {min(loads):.1f} to {max(loads):.1f} (median "
        f"{statistics.median(loads):.1f}; {os.cpu_count()} cores, shared with other processes, "
        "which add noise, most visible in the spreads)."),
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM; Python {v['python']}, "
        f"numpy {v['numpy']}, scipy {v['scipy']}; R {v['R']} (BLAS {v['R_BLAS']}), lme4 {v['lme4']}; "
        f"mixedlm {v['mixedlm']}; mlm_wrap {v['mlm_wrap']} at commit {args.commit_start}"
        + ("." if v["mlm_wrap_commit"] == args.commit_start
           else f" at the start, {v['mlm_wrap_commit']} at the end (the tree changed during the run)."),
        "",
        ("Each tool in its own subprocess pinned to one thread (OMP/OPENBLAS/MKL/RAYON_NUM_THREADS=1, "
        "threadpoolctl); the same CSV data for all three; the time of the fit call only (for bootMer: "
        f"`bootMer(m, fixef, nsim = {args.nsim})` on a fitted model, mlm_wrap "
        f"`bootMer(m, {args.nsim}, FUN=fixef)`, mixedlm `bootMer(m, nsim={args.nsim})`; for the profile: "
        "`confint(m, method = \"profile\")`). "
        "Median over 20 repeats (IQR) when the first 3 fits take under 0.1 s (median), else over 3 "
        "(min-max), "
        "unless n says otherwise. logLik: the REML log-likelihood for REML fits; the differences "
        "are mlm_wrap's minus the other's (negative: mlm_wrap short of it). Ratios above 1: "
        "mlm_wrap slower."),
        "",
        table(results),
        "",
        goals(results),
        "",
    ]
    mem = memory_table(results)
    if mem:
        lines += [("Memory of the large points (resident set of each worker process after loading the "
                  "data / its peak over warm-up and all repeats, VmRSS / VmHWM):"), "", mem, ""]
    lines += [
        ("Notes: `(1 + x | g)` at n 1e3 uses 100 groups (1000 groups on 1000 rows gives more random "
        "effects than observations, which lme4 refuses); `(1 | g)` at n 1e3 has no 1e4-group point "
        "for the same reason. mixedlm fits cbpp as `prop ~ period + (1 | herd)` with "
        "`weights = size` (its parser has no `cbind()`; the same binomial model: lme4 gives the "
        "same logLik for both forms); there mixedlm ends 2.8e-4 above lme4's logLik at theta "
        "0.64226 (lme4 0.64207). "
        "mixedlm's profile covers the fixed effects only (lme4's and mlm_wrap's every "
        "parameter), so it is n/a there; bootMer and profile points have no logLik column."
        + " The published models are R's own data (nlme's BodyWeight, Orthodont, ergoStool, Machines; mlmRev's Early, Exam, ScotsSec, Chem97, Contraception; lme4's VerbAgg and grouseticks), exported by Rscript with factors as labels and binary responses as 0/1; where mixedlm's parser refuses the published formula it fits the same model on columns computed at export: `Worker:Machine` as a column `WM`, `I(age^2)` as `age2`, `scale(HEIGHT)` as `cHEIGHT`."),
    ]
    lines += notes(results)
    return "\n".join(lines) + "\n"


def write_results(section: str) -> None:
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else "# Benchmark results\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        rest = "" if nxt < 0 else text[nxt + 1:]
        text = text[:start] + section + ("\n" + rest if rest else "")
    RESULTS_MD.write_text(text)


def select(args) -> list[dict]:
    pts = POINTS
    if args.quick:
        pts = [p for p in pts if not p["heavy"]]
    if args.only:
        keys = [k.strip() for k in args.only.split(",") if k.strip()]
        names = {p["name"] for p in POINTS}
        # a key is a point's name, or else a substring of the names it selects
        pts = [p for p in pts if any(k == p["name"] or (k not in names and k in p["name"]) for k in keys)]
    return pts


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        res = _python_worker(argv[1], json.loads(argv[2]))
        print("RESULT " + json.dumps(res))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the 1e6-row points, InstEval and bootMer")
    ap.add_argument("--only", default="", help="comma-separated point names (or substrings)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    ap.add_argument("--write", action="store_true", help="write the section into benchmarks/RESULTS.md")
    ap.add_argument("--list", action="store_true", help="list the points and exit")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mlm_wrap_bench")
    ap.add_argument("--small-repeats", type=int, default=20, help="repeats of fits under 0.1 s")
    ap.add_argument("--large-repeats", type=int, default=3, help="repeats of fits of 0.1 s or more")
    ap.add_argument("--huge-repeats", type=int, default=0,
                    help="repeats of the heavy points (1e6 rows, InstEval, bootMer); 0: as --large-repeats")
    ap.add_argument("--nsim", type=int, default=1000, help="refits of the bootMer point")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per (point, tool) subprocess")
    ap.add_argument("--json", type=Path, help="also save the raw results here")
    args = ap.parse_args(argv)
    args.argv = argv
    pts = select(args)
    if args.list:
        for p in POINTS:
            print(f"{p['name']:24s} {p['label'].format(nsim=args.nsim)}"
                  + ("  [heavy: not in --quick]" if p["heavy"] else ""))
        return 0
    tools = [t for t in args.tools.split(",") if t in TOOLS]
    started = time.time()
    args.commit_start = _commit()
    results = []
    for p in pts:
        p = dict(p, label=p["label"].format(nsim=args.nsim))
        csv, factors = prepare(p["data"], args.cache)
        res = {}
        for t in TOOLS:
            res[t] = run_tool(t, p, csv, factors, args) if t in tools else {"na": "not run"}
            r = res[t]
            r["load1"] = os.getloadavg()[0]
            print(f"  {p['name']:24s} {t:9s} {_summary(r)[1]:40s} "
                  f"logLik {r.get('logLik')} peak {r.get('peak_mib')} {r.get('error', '')}",
                  file=sys.stderr, flush=True)
        results.append((p, res))
    if args.json:
        args.json.write_text(json.dumps([{"point": p, "results": r} for p, r in results], indent=1))
    section = report(results, args, started)
    print(section)
    if args.write:
        write_results(section)
        print(f"written to {RESULTS_MD}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
