"""Markers never overtake the data they follow: 200 validation passes with a partial last batch on three stages
where the leaf takes parts from two producers (SkipNet: the root's skip connection and the stem's output) and
the end-of-validation marker from one. Every pass must score every row, each batch against its own labels."""

import json
import time
from pathlib import Path

from pipeline_harness import PYTHON, run_providers, write_node_data
from pipeline_scenarios import SkipNet, example_inputs
from validation_order_provider import BATCH, VALIDATION_ROWS

PASSES = 200
PROVIDER = "validation_order_provider.py"


def test_every_validation_pass_scores_every_row_before_it_ends(tmp_path):
    args, kwargs = example_inputs({"model": "skip"})
    write_node_data(tmp_path, SkipNet(), args, kwargs, nodes=3)
    leaf = json.loads((tmp_path / "node_data" / "nodes" / "node_2.json").read_text())
    # The leaf must take inputs from two stages, or this test would not exercise the race.
    assert len(set(leaf["input_sources"].values())) == 2, leaf["input_sources"]
    started = time.monotonic()
    command = [PYTHON, str(Path(__file__).with_name(PROVIDER)), "{node}", str(PASSES)]
    codes, logs, _ = run_providers(tmp_path, 3, command, timeout=400)
    assert set(codes.values()) == {0}, {name: text[-3000:] for name, text in logs.items()}
    scored = json.loads((tmp_path / "scored.json").read_text())
    expected = [list(range(start, min(start + BATCH, VALIDATION_ROWS))) for start in range(0, VALIDATION_ROWS, BATCH)]
    assert sorted(map(int, scored)) == list(range(1, PASSES + 1))
    for pass_number, batches in scored.items():
        assert batches == expected, (pass_number, batches)
    lines = (tmp_path / "val_accuracies.txt").read_text().split()
    assert len(lines) == PASSES and all(float(line) == 1.0 for line in lines)
    print(f"{PASSES} validation passes of {VALIDATION_ROWS} rows, all scored in full, in "
          f"{time.monotonic() - started:.1f} s")
