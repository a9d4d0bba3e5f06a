"""Back-to-back launches: the CNN example on three providers for one epoch, `--count` times in a row through
`python -m ravnest.launch`; every launch must exit 0 (the original Ravnest crashed with SIGSEGV in 2 of 18).

    /usr/bin/python3 tests/soak/launches.py               # the full run: 50 launches
    /usr/bin/python3 tests/soak/launches.py --count 3     # the short variant the default suite runs

Prints each launch's exit status and duration; exits 1 when any launch failed.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from cnn_example import copy_example  # noqa: E402
from pipeline_harness import PYTHON  # noqa: E402

LAUNCH_TIMEOUT_SECONDS = 300


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args(argv)
    environment = dict(os.environ, OMP_NUM_THREADS="1", RAVNEST_EPOCHS="1")
    failures, durations = [], []
    with tempfile.TemporaryDirectory(prefix="ravnest-launches-") as temporary:
        folder = Path(temporary)
        copy_example(folder)
        for launch in range(1, args.count + 1):
            started = time.monotonic()
            try:
                result = subprocess.run([PYTHON, "-m", "ravnest.launch", "provider.py"], cwd=folder, text=True,
                                        capture_output=True, env=environment, timeout=LAUNCH_TIMEOUT_SECONDS)
                status, output = result.returncode, result.stdout + result.stderr
            except subprocess.TimeoutExpired as timeout:
                status, output = "timeout", f"{timeout.stdout or ''}{timeout.stderr or ''}"
            durations.append(time.monotonic() - started)
            print(f"launches: {launch}/{args.count}: exit {status} in {durations[-1]:.1f} s", flush=True)
            if status != 0:
                failures.append((launch, status, output[-3000:]))
    print(f"launches: {args.count - len(failures)} of {args.count} exited 0; "
          f"{min(durations):.1f}-{max(durations):.1f} s each")
    for launch, status, output in failures:
        print(f"launches: launch {launch} exited {status}:\n{output}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
