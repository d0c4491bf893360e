"""The pandas/dict subclasses the accessors return, so that a table prints as R prints it
(``fixef(m)``, ``coef(m)$g``, ``ranef(m)``) and renders as an HTML table in notebooks."""
from __future__ import annotations

import html

import pandas as pd

from mlm_wrap.rformat.html import _chomp, _pre, frame_html, vector_html
from mlm_wrap.rformat.layout import _list_name, format_frame, format_list, format_vector

# ======================================================================================
# Tables the accessors return
# ======================================================================================

class RSeries(pd.Series):
    """A pandas Series that prints as R prints a named numeric vector (``fixef(m)``)."""

    @property
    def _constructor(self):
        return RSeries

    @property
    def _constructor_expanddim(self):
        return RFrame

    def __str__(self) -> str:
        if not pd.api.types.is_numeric_dtype(self.dtype):
            return super().__repr__()
        return _chomp(format_vector(self))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        if not pd.api.types.is_numeric_dtype(self.dtype):
            return _pre(super().__repr__())
        return vector_html(self)


class RFrame(pd.DataFrame):
    """A pandas DataFrame that prints as R prints a data frame (``coef(m)$g``)."""

    @property
    def _constructor(self):
        return RFrame

    @property
    def _constructor_sliced(self):
        return RSeries

    def __str__(self) -> str:
        return _chomp(format_frame(self))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return frame_html(self)


class RList(dict):
    """A dict of tables (grouping factor -> RFrame) that prints as R prints a list.

    ``footer`` is what R prints after the list (lme4's ``ranef`` note on conditional
    variances, the class attribute of ``coef.mer``).
    """

    def __init__(self, *args, footer: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.footer = footer

    def __str__(self) -> str:
        return _chomp(format_list(self, footer=self.footer))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        parts = []
        for k, v in self.items():
            parts.append(f"<p><b>{html.escape(_list_name(k))}</b></p>")
            parts.append(v._repr_html_() if hasattr(v, "_repr_html_") else _pre(str(v)))
        if self.footer:
            parts.append(f"<p>{html.escape(self.footer.strip())}</p>")
        return "".join(parts)
