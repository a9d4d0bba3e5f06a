"""The benchmarks' fair baseline runs plain PyTorch under the malloc settings every ravnest process gives itself:
tests/benchmarks/baselines.py must state exactly what src/comm/allocator_tuning.cpp sets."""

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "benchmarks"))

from baselines import NODE_MALLOC_ENVIRONMENT  # noqa: E402


def _cpp_setting(source, name):
    match = re.search(rf"constexpr int {name} = (\d+) << (\d+);", source)
    assert match, f"{name} is no longer a shifted constant in allocator_tuning.cpp: update this test"
    return int(match.group(1)) << int(match.group(2))


def test_the_baseline_uses_the_settings_a_node_applies():
    source = (REPO / "src" / "comm" / "allocator_tuning.cpp").read_text()
    assert NODE_MALLOC_ENVIRONMENT == {
        "MALLOC_MMAP_THRESHOLD_": str(_cpp_setting(source, "kMmapThresholdBytes")),
        "MALLOC_TRIM_THRESHOLD_": str(_cpp_setting(source, "kTrimThresholdBytes")),
        "MALLOC_TOP_PAD_": str(_cpp_setting(source, "kTopPadBytes")),
    }
