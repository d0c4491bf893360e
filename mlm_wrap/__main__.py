"""``python -m mlm_wrap``: the ``mlm-wrap`` command line (``fit``, ``demo``)."""
import sys

from mlm_wrap.cli import main

if __name__ == "__main__":
    sys.exit(main())
