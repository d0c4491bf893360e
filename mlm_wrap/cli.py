"""The ``mlm-wrap`` command line: ``fit`` a formula to a CSV, or run the faculty ``demo``.

    mlm-wrap fit "Reaction ~ Days + (Days | Subject)" sleepstudy.csv [--ml] [--json]
    mlm-wrap demo

Bad arguments give a one-line error and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np
import pandas as pd

import mlm_wrap as mw
from mlm_wrap.demo import demo
from mlm_wrap.errors import DataError, FormulaError, ModelError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage too)
        self.exit(2, f"mlm-wrap: error: {message}\n")


def _estimates(m) -> dict:
    """The fit as plain JSON-able data (R's names)."""
    def table(d):
        return {g: {"index": [str(i) for i in t.index], "columns": list(t.columns),
                    "data": np.asarray(t, float).tolist()} for g, t in d.items()}
    vc = m.VarCorr().to_frame()
    return {
        "formula": m.formula, "REML": m.REML, "nobs": int(m.nobs()),
        "ngrps": {k: int(v) for k, v in m.ngrps().items()},
        "fixef": {k: float(v) for k, v in m.fixef().items()},
        "se_fixef": {k: float(v) for k, v in m.se_fixef().items()},
        "varcorr": [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
                    for row in vc.astype(object).where(vc.notna(), None).to_dict("records")],
        "sigma": float(m.sigma()), "logLik": float(m.logLik()), "AIC": float(m.AIC()),
        "BIC": float(m.BIC()), "isSingular": bool(m.isSingular()),
        "ranef": table(m.ranef()), "coef": table(m.coef()),
    }


def _fit(args) -> int:
    try:
        df = pd.read_csv(args.data)
    except (OSError, ValueError) as e:
        print(f"mlm-wrap: error: cannot read {args.data!r}: {e}", file=sys.stderr)
        return 2
    df.attrs["name"] = args.data.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = mw.lmer(args.formula, data=df, REML=not args.ml)
    except (FormulaError, DataError, ModelError, TypeError, ValueError) as e:
        print(f"mlm-wrap: error: {e}", file=sys.stderr)
        return 2
    for w in caught:
        print(f"mlm-wrap: {w.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(_estimates(m), indent=2))
    else:
        print(mw.summary(m))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = _Parser(prog="mlm-wrap", description="lme4's lmer() from the command line")
    sub = ap.add_subparsers(dest="command")
    f = sub.add_parser("fit", help="fit an lme4 formula to a CSV file and print R's summary")
    f.add_argument("formula", help='an lme4 formula, e.g. "y ~ x + (1 | g)"')
    f.add_argument("data", help="a CSV file with a header row")
    f.add_argument("--ml", action="store_true", help="maximum likelihood (REML = FALSE)")
    f.add_argument("--json", action="store_true", help="print the estimates as JSON")
    sub.add_parser("demo", help="the faculty-salary walk-through")
    args = ap.parse_args(argv)
    if args.command == "fit":
        return _fit(args)
    if args.command == "demo":
        demo()
        return 0
    ap.error("choose a command: fit or demo")
    return 2


if __name__ == "__main__":
    sys.exit(main())
