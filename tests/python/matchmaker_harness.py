"""Real processes around a matchmaker: the service (python -m ravnest.matchmaker), providers that run the CNN
example's provider.py in empty folders of their own, and the requester (the example's cluster_formation.py)."""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipeline_harness import PYTHON, free_ports

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cnn"
TOKEN = "matchmaker-test-token"


class Matchmaker:
    """`python -m ravnest.matchmaker` on 127.0.0.1 (or `host`), with its state in `state`."""

    def __init__(self, folder, state=None, ports=None, host="127.0.0.1", token=TOKEN, extra=(), netns=None):
        self.folder = Path(folder)
        self.state = Path(state or self.folder / "state")
        self.port, self.status_port = ports or free_ports(2)
        self.host = host
        self.token = token
        self.netns = netns
        self.log = self.folder / f"matchmaker-{self.port}.log"
        self._log_start = self.log.stat().st_size if self.log.exists() else 0  # a restart appends to the same log
        command = [PYTHON, "-m", "ravnest.matchmaker", "--host", host, "--port", str(self.port), "--status-port",
                   str(self.status_port), "--state", str(self.state), "--token", token, "-v", *extra]
        if netns:
            command = ["ip", "netns", "exec", netns, *command]
        self.process = subprocess.Popen(command, stdout=open(self.log, "a"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.wait_for_line("listening on")

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def wait_for_line(self, text, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text()[self._log_start:]:
                return
            assert self.process.poll() is None, f"the matchmaker exited:\n{self.log.read_text()}"
            time.sleep(0.1)
        raise AssertionError(f"the matchmaker never printed {text!r}:\n{self.log.read_text()}")

    def status(self):
        url = f"http://{self.host}:{self.status_port}/status.json"
        if self.netns:  # only reachable from inside its network namespace
            fetch = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
            result = subprocess.run(["ip", "netns", "exec", self.netns, PYTHON, "-c", fetch, url],
                                    capture_output=True, text=True, timeout=30)
            if result.returncode != 0:
                raise ConnectionError(result.stderr[-500:])
            return json.loads(result.stdout)
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.loads(answer.read())

    def wait_for_status(self, predicate, what, timeout=60):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.status()
                if predicate(last):
                    return last
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"the matchmaker never showed {what}; last status: {json.dumps(last)[:3000]}")

    def kill(self, signum=signal.SIGKILL):
        # start_new_session: the process group holds the matchmaker (and `ip netns exec` before it).
        os.killpg(self.process.pid, signum)
        self.process.wait(timeout=30)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def environment(matchmaker_address, token=TOKEN, **extra):
    return dict(os.environ, RAVNEST_MATCHMAKER=matchmaker_address, RAVNEST_MATCHMAKER_TOKEN=token,
                OMP_NUM_THREADS="1", **extra)


def start_provider(folder, matchmaker_address, epochs=20, token=TOKEN, netns=None, **extra):
    """The example's provider.py, started in `folder` (empty but for what it writes) with only the matchmaker's
    address; its output goes to folder/provider.log."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    command = [PYTHON, str(EXAMPLE / "provider.py")]
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    env = environment(matchmaker_address, token, RAVNEST_EPOCHS=str(epochs), **extra)
    return subprocess.Popen(command, cwd=folder, env=env, stdout=open(folder / "provider.log", "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def run_requester(folder, matchmaker_address, providers=3, token=TOKEN, timeout=180, netns=None, extra_env=None):
    """The example's cluster_formation.py through the matchmaker; returns the CompletedProcess."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    command = [PYTHON, str(EXAMPLE / "cluster_formation.py")]
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    env = environment(matchmaker_address, token, RAVNEST_PROVIDERS=str(providers), **(extra_env or {}))
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def wait_all(processes, timeout=300):
    """Exit codes of `processes`, killing any still running after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=max(1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            codes.append(process.wait())
    return codes


def stop_all(processes):
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def final_accuracy(folders):
    """The last validation accuracy the leaf (whichever folder it ran in) wrote, in percent."""
    for folder in folders:
        path = Path(folder) / "val_accuracies.txt"
        if path.exists():
            return float(path.read_text().split()[-1])
    raise AssertionError("no provider wrote val_accuracies.txt")
