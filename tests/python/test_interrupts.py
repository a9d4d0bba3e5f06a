"""ravnest.interrupts in a real process: the first SIGINT/SIGTERM goes to the node, a second one ends the
process at once with 128 + its number, and a script's own handlers are left alone."""

import subprocess
import textwrap

from pipeline_harness import PYTHON


def run(script):
    return subprocess.run([PYTHON, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=60)


def test_first_signal_goes_to_the_node_and_a_second_exits_at_once():
    result = run("""
        import os, signal, time
        from ravnest.interrupts import InterruptHandler
        seen = []
        InterruptHandler(seen.append).install()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        print("first:", seen, flush=True)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)
        print("still running", flush=True)
    """)
    assert result.stdout.strip() == "first: [15]", result.stdout + result.stderr
    assert result.returncode == 130


def test_a_scripts_own_handler_wins():
    result = run("""
        import os, signal, time
        from ravnest.interrupts import InterruptHandler
        signal.signal(signal.SIGTERM, lambda signum, frame: print("script's handler", flush=True))
        seen = []
        InterruptHandler(seen.append).install()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        print("node saw:", seen, flush=True)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["script's handler", "node saw: []"], result.stdout
