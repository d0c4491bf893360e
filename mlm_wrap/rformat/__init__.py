"""R's number and table formatting, reproduced digit for digit (R 4.2): a low-level utility.

lme4's printouts are built from a handful of base-R primitives: ``format()`` of a numeric
vector (C ``formatReal`` + ``EncodeReal0``), ``formatC()``, ``round()``/``signif()``,
``format.pval()``, ``printCoefmat()``, ``abbreviate()``, ``print()`` of a character matrix,
of a named vector, a data frame or a list.  Each module here is a line-by-line port of the
corresponding R source (``src/main/format.c``, ``src/nmath/fround.c``, ``fprec.c``,
``src/main/character.c``, ``printmatrix.c`` and the R-level functions of base/stats), so the
strings we print are the strings R prints.  Any layer may import this package; it imports
nothing else of mlm_wrap.

Missing values: R distinguishes ``NA`` from ``NaN``.  Pass ``None`` (or :data:`NA_REAL`, a
NaN carrying R's NA payload, or a masked entry of a numpy masked array) where R would have
``NA``; a plain ``float('nan')`` is R's ``NaN``.  Use :func:`nan_to_na` to turn every NaN
into NA.  Index arguments (``cs_ind``, ``tst_ind``, ``zap_ind``) are 0-based, unlike R.
"""
from mlm_wrap.rformat.abbreviate import abbreviate
from mlm_wrap.rformat.coefmat import (
           SIGNIF_LEGEND,
           CoefTable,
           format_coefmat,
           signif_stars,
)
from mlm_wrap.rformat.matrix import print_matrix
from mlm_wrap.rformat.na import DBL_EPSILON, NA_REAL, is_na, nan_to_na
from mlm_wrap.rformat.numbers import (
           format1,
           format_info,
           format_num,
           format_pval,
           formatC,
)
from mlm_wrap.rformat.rounding import r_round, signif, zapsmall

__all__ = ["NA_REAL", "DBL_EPSILON", "SIGNIF_LEGEND", "is_na", "nan_to_na", "r_round", "signif",
           "zapsmall", "format_info", "format_num", "format1", "formatC", "format_pval",
           "signif_stars", "CoefTable", "format_coefmat", "abbreviate", "print_matrix"]
