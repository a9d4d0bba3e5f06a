"""ravnest.launch shares the machine's cores among the providers it starts."""

import json
import os
import subprocess

from pipeline_harness import PYTHON

REPORT_THREADS = """import os, sys, torch
print(sys.argv[1], os.environ["OMP_NUM_THREADS"], torch.get_num_threads())
"""


def launch_thread_report(folder, providers, env):
    (folder / "node_data" / "nodes").mkdir(parents=True)
    for node_id in range(providers):
        document = {"node_id": node_id, "is_root": node_id == 0}
        (folder / "node_data" / "nodes" / f"node_{node_id}.json").write_text(json.dumps(document))
    (folder / "report.py").write_text(REPORT_THREADS)
    environment = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    result = subprocess.run([PYTHON, "-m", "ravnest.launch", "report.py"], cwd=folder, capture_output=True,
                            text=True, timeout=120, env=dict(environment, **env))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.split("] ", 1)[1].split() for line in result.stdout.splitlines() if "] node_" in line]
    return {name: (int(variable), int(torch_threads)) for name, variable, torch_threads in lines}


def test_each_provider_gets_its_share_of_the_cores(tmp_path):
    share = max(1, len(os.sched_getaffinity(0)) // 3)
    reported = launch_thread_report(tmp_path, 3, {})
    assert reported == {f"node_{i}": (share, share) for i in range(3)}


def test_omp_num_threads_set_by_the_user_wins(tmp_path):
    reported = launch_thread_report(tmp_path, 2, {"OMP_NUM_THREADS": "3"})
    assert reported == {"node_0": (3, 3), "node_1": (3, 3)}
