"""Determinism (issue #17): the same data and seed give bit-identical fits, simulations and
bootstrap results, in two separate Python processes (and in this one)."""
from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r'''
import json, warnings
import numpy as np
import mlm_wrap as mw
from mlm_wrap.datasets import load

warnings.simplefilter("ignore")
hexes = lambda a: [float(v).hex() for v in np.ravel(np.asarray(a, float))]
ss, cbpp = load("sleepstudy"), load("cbpp")
m = mw.lmer("Reaction ~ Days + (Days | Subject)", data=ss)
crossed = mw.lmer("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", data=ss, REML=False)
g = mw.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", data=cbpp,
             family="binomial")
b = mw.bootMer(m, 12, seed=3, progress=False)
out = {
    "lmer": hexes(np.r_[m.theta, mw.fixef(m), mw.sigma(m), float(mw.logLik(m))]),
    "crossed": hexes(np.r_[crossed.theta, mw.fixef(crossed)]),
    "glmer": hexes(np.r_[g.theta, mw.fixef(g), float(mw.logLik(g))]),
    "simulate": hexes(mw.simulate(m, 4, seed=42)),
    "boot": hexes(np.asarray(b.t, float)),
    "summary": str(mw.summary(m)) + str(mw.summary(g)),
}
print(json.dumps(out))
'''


def _run() -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_two_processes_give_bit_identical_results():
    first, second = _run(), _run()
    assert first.keys() == second.keys()
    for k in first:
        assert first[k] == second[k], k
