"""The matchmaker: a long-running service where providers join and are measured, and requesters submit jobs.

    python -m ravnest.matchmaker --port 7000 [--token T] [--state DIR]

The service itself is C++ (`_C.MatchmakerServer`, libravnest's matchmaker/ layer); this module starts it from the
command line. Providers join with `Node(matchmaker="host:7000", ...)`, requesters submit with
`clusterize(..., matchmaker="host:7000", providers=N)`. docs/matchmaker.md describes it.
"""

import argparse
import os
import signal
import socket
import threading

from ravnest import _C

TOKEN_ENV = "RAVNEST_MATCHMAKER_TOKEN"
DEFAULT_PORT = 7000
DEFAULT_STATE = "matchmaker_state"


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ravnest.matchmaker", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: every interface)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"gRPC port (default {DEFAULT_PORT})")
    parser.add_argument("--status-port", type=int, default=0,
                        help="port of the status page (default: --port + 1; -1: no status page)")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV, ""),
                        help=f"secret every provider and requester must present (default ${TOKEN_ENV}; none)")
    parser.add_argument("--state", default=DEFAULT_STATE,
                        help=f"folder of the SQLite state and the uploaded artifacts (default {DEFAULT_STATE}/)")
    parser.add_argument("--tls-cert", default="", help="PEM certificate: the gRPC service speaks TLS")
    parser.add_argument("--tls-key", default="", help="PEM key of --tls-cert")
    parser.add_argument("--provider-lost-after", type=float, default=10.0,
                        help="seconds without a heartbeat before a provider counts as lost (default 10)")
    parser.add_argument("--requester-lost-after", type=float, default=15.0,
                        help="seconds without word from a requester before its job, not yet running, is dropped "
                             "(default 15)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every join, job and probe")
    return parser.parse_args(argv)


def serve(arguments):
    """Runs the matchmaker until SIGINT or SIGTERM; returns the exit code."""
    if arguments.verbose:
        _C.set_log_level("info")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server = _C.MatchmakerServer(host=arguments.host, port=arguments.port, status_port=arguments.status_port,
                                     token=arguments.token, state=arguments.state, tls_cert=arguments.tls_cert,
                                     tls_key=arguments.tls_key,
                                     provider_lost_after=arguments.provider_lost_after,
                                     requester_lost_after=arguments.requester_lost_after)
    except _C.Error as error:
        print(f"matchmaker: {error}", flush=True)
        return 1
    shown = socket.gethostname() if arguments.host in ("0.0.0.0", "::", "") else arguments.host
    address = f"{shown}:{server.port}"
    print(f"ravnest matchmaker listening on {arguments.host}:{server.port}, state in "
          f"{os.path.join(arguments.state, 'matchmaker.sqlite3')}", flush=True)
    if server.status_port > 0:
        print(f"status page: http://{shown}:{server.status_port}/", flush=True)
    token_hint = f", matchmaker_token=..." if arguments.token else ""
    print(f"providers join with:   Node(matchmaker=\"{address}\"{token_hint}, ...)  "
          f"or RAVNEST_MATCHMAKER={address}", flush=True)
    print(f"requesters submit with: clusterize(model=..., example_args=..., matchmaker=\"{address}\"{token_hint}, "
          f"providers=N)", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    print("matchmaker: stopped", flush=True)
    return 0
