"""Lets the tests import ravnest from the source tree when it is not installed, and the model zoo."""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_SOURCE_PACKAGE_ROOT = _HERE.parents[1] / "python"

sys.path.insert(0, str(_HERE))
try:
    import ravnest  # noqa: F401  (an installed build wins)
except ImportError:
    sys.path.insert(0, str(_SOURCE_PACKAGE_ROOT))
