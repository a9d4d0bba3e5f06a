"""SIGINT and SIGTERM on a provider: the first one stops the whole pipeline cleanly (the node tells the rest of
its cluster, writes its checkpoint and exits with 128 + the signal's number), a second one exits at once.

Python runs signal handlers on the main thread between two bytecodes; a node's blocking calls wake at least
every half second or when the pipeline moves, so the handler runs promptly.
"""

import os
import signal
import threading

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class InterruptHandler:
    """Calls `on_first(signum)` on the first SIGINT or SIGTERM and ends the process on the second. Installed
    only from the main thread and only over Python's default handlers, so a script's own handlers win."""

    def __init__(self, on_first):
        self._on_first = on_first
        self.signum = None

    def install(self):
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in _SIGNALS:
            if signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler):
                signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        if self.signum is not None:
            os._exit(exit_status(signum))
        self.signum = signum
        self._on_first(signum)


def exit_status(signum):
    """What a shell reports for a process ended by `signum`."""
    return 128 + signum
