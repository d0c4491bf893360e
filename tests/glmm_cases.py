"""The glmer cases of the corpora (core's cbpp fits, extra's glmm_*) and their tolerances."""
from __future__ import annotations

import json

from conftest import CASES as CORE_CASES
from conftest import EXTRA
from rref import GLMM_TOL
from rref import TOL as _TOL

TOL = dict(_TOL, **GLMM_TOL)


def _case_ids() -> list:
    ids = []
    for f in sorted(CORE_CASES.glob("*.json")):
        if json.loads(f.read_text()).get("family"):
            ids.append(f.stem)
    ids += ["extra:" + f.stem for f in sorted((EXTRA / "cases").glob("glmm_*.json"))]
    return ids


CASES = _case_ids()
EXTRA_CASES = [c for c in CASES if c.startswith("extra:")]
