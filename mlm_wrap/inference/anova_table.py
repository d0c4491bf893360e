"""R's ``anova`` tables: a data frame that prints as ``print.anova`` does (lme4's model
comparisons, lmerTest's type I/II/III tables, drop1, ranova)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlm_wrap.rformat import format_coefmat


class AnovaTable(pd.DataFrame):
    """A table of tests (model comparison, or one model's terms); ``str()`` is R's
    ``print.anova``: its heading, then ``printCoefmat``."""

    _metadata = ["heading"]

    @property
    def _constructor(self):
        return AnovaTable

    def format(self, digits: int = 5, signif_stars: bool = True) -> str:
        """R's ``print(anova(...), digits=)`` as text (``digits`` default: R's 7 - 2)."""
        heading = list(getattr(self, "heading", None) or [])
        cols = list(self.columns)
        x = self.to_numpy(dtype=float)
        cells = np.where(np.isnan(x), None, x).tolist()
        has_p = cols[-1].startswith(("Pr(", "P("))
        tst = [i for i, c in enumerate(cols) if c[1:7] == " value" or c in ("F", "Cp", "Chisq")]
        zap = [i for i in range(len(cols) - 1 if has_p else len(cols))
               if i not in tst and not cols[i].endswith("Df")]
        tab = format_coefmat(cells, rownames=[str(i) for i in self.index], colnames=cols,
                             digits=digits, signif_stars=signif_stars, cs_ind=[], tst_ind=tst,
                             zap_ind=zap, has_Pvalue=has_p, P_values=has_p, na_print="")
        text = tab.render()
        return "\n".join(heading + [text.rstrip("\n")])

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return self.format()
