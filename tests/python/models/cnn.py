"""The digits CNN, loaded from the example so the tests split exactly what users run."""

import importlib.util
from pathlib import Path

_EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "cnn" / "models.py"
_spec = importlib.util.spec_from_file_location("cnn_example_models", _EXAMPLE)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

CNN = _module.CNN
