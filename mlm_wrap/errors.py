"""Exceptions and warnings that name the problem in the user's terms."""
from __future__ import annotations

import contextlib
import threading
import warnings


class FormulaError(ValueError):
    """A model formula could not be parsed or is not a valid lme4 formula."""


class DataError(ValueError):
    """The data cannot serve the formula: a column is missing, of the wrong kind, ..."""


class UnknownColumnError(DataError, KeyError):
    """A name in the formula is not a column of the data (also a KeyError)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelError(ValueError):
    """The model cannot be fitted as specified (R's checks in lmer)."""


class OutOfCoreError(ModelError, AttributeError):
    """What an out-of-core fit (``lmer(data=<dask frame | parquet>)``) cannot do: a formula
    transform that needs the whole data at once, or a method that needs every row in memory.
    An AttributeError too, so ``hasattr(m.design, "X")`` is False for such a fit."""


class ConvergenceWarning(UserWarning):
    """The optimiser stopped away from an optimum (lme4's convergence warnings)."""


class SingularFitWarning(UserWarning):
    """boundary (singular) fit: see help('isSingular')"""


class MixedModelMessage(UserWarning):
    """An informational lme4 message (e.g. dropped rank-deficient columns)."""


class VersionError(ValueError):
    """A saved (pickled) model was written by another mlm_wrap version."""


_WARNINGS_LOCK = threading.RLock()


@contextlib.contextmanager
def caught_warnings(action: str = "ignore", record: bool = False):
    """``warnings.catch_warnings()`` with ``simplefilter(action)``, safe with threads.

    Python's ``catch_warnings`` swaps the process-wide filter list on entry and puts the
    saved one back on exit, so two blocks that overlap in different threads leave one
    block's filters ("ignore everything") installed for good: fits made in threads
    silenced every later warning.  mlm_wrap's blocks take one lock, so they never overlap.
    """
    with _WARNINGS_LOCK:
        with warnings.catch_warnings(record=record) as caught:
            warnings.simplefilter(action)
            yield caught
