"""The keyword options of ravnest.Node (its **kwargs): one table, from which the keywords, their defaults, their
validation, the unknown-keyword warning and the docs (docs/api.md, "Keyword options") all come.

Options the C++ runtime takes default to the C++ NodeOptions defaults (`_C.node_option_defaults()`), so a default
is written down once. Regenerate the docs table with `python -m ravnest.node_options`; a test compares them.
"""

import difflib
import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ravnest import _C

log = logging.getLogger("ravnest.node")

_RUNTIME_DEFAULTS = _C.node_option_defaults()
# The codecs activations, gradients and ring chunks can travel as.
CODECS = ("none", "fp16", "bf16", "int8-blockwise")


@dataclass(frozen=True)
class Option:
    name: str
    doc: str
    check: Callable[[str, Any], Any]  # (name, value) -> the value to use; raises ValueError or TypeError
    default: Any = None  # None with `runtime`: the C++ default
    runtime: bool = False  # passed to the C++ node under the same name
    env: Optional[str] = None  # an environment variable that overrides the default
    shown_default: Optional[str] = None  # the docs' wording of the default, where the value alone misleads

    def default_value(self):
        if self.env and os.environ.get(self.env) not in (None, ""):
            return self.check(f"{self.name} (${self.env})", os.environ[self.env])
        if self.runtime and self.default is None:
            return _RUNTIME_DEFAULTS[self.name]
        return self.default


def _seconds(positive=True):
    def check(name, value):
        number = float(value)
        if not math.isfinite(number) or number < 0 or (positive and number == 0):
            raise ValueError(f"{name} must be {'positive' if positive else '0 or more'} seconds, got {value!r}")
        return number
    return check


def _integer(low, high=None):
    def check(name, value):
        if isinstance(value, bool) or int(value) != value:
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if value < low or (high is not None and value > high):
            raise ValueError(f"{name} must be in [{low}, {high if high is not None else 'inf'}], got {value}")
        return int(value)
    return check


def _one_of(*choices):
    def check(name, value):
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    return check


def _boolean(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _text(name, value):
    return "" if value is None else str(value)


def _anything(name, value):
    return value


def _benchmarks(name, value):
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {"ram", "bandwidth"}:
        raise ValueError(f"{name} must be a dict with 'ram' (GB) and/or 'bandwidth' (Mbit/s), got {value!r}")
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) or number <= 0:
            raise ValueError(f"{name}['{key}'] must be a positive number, got {number!r}")
    return dict(value)


def _callable_or_none(name, value):
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be a function (outputs, targets) -> score, got {value!r}")
    return value


OPTIONS = (
    Option("node_data", "the folder clusterize wrote", _text, default="node_data"),
    Option("matchmaker", "`'host:port'` of a matchmaker: the provider joins through it, is measured, and receives "
           "its stage into `./node_data/` (then `name`, if given, is its provider name)", _text, default="",
           env="RAVNEST_MATCHMAKER", shown_default="`$RAVNEST_MATCHMAKER`, else `''` (static `node_data/`)"),
    Option("matchmaker_token", "the matchmaker's `--token`", _text, default="", env="RAVNEST_MATCHMAKER_TOKEN",
           shown_default="`$RAVNEST_MATCHMAKER_TOKEN`, else `''`"),
    Option("matchmaker_tls_ca", "PEM CA file of a matchmaker that speaks TLS", _text, default=""),
    Option("advertise_host", "matchmaker: the address peers reach this provider at", _text, default="",
           shown_default="`''` (the local address that reaches the matchmaker)"),
    Option("port", "matchmaker: the port this provider probes and serves its stage on", _integer(0, 65535),
           default=0, shown_default="`0` (any free port)"),
    Option("join_timeout", "matchmaker: seconds to wait for the matchmaker and a job; `0` waits as long as it "
           "takes", _seconds(positive=False), default=0.0),
    Option("benchmarks", "matchmaker: figures given by hand, `{'ram': GB, 'bandwidth': Mbit/s}`; they win over "
           "the measured ones in cluster formation", _benchmarks, default=None),
    Option("max_in_flight", "training micro-batches in the pipeline at once; `1` is synchronous",
           _integer(0), runtime=True, shown_default="`0` (the cluster's length)"),
    Option("schedule", "`'1f1b'` or `'zb'` (zero bubble)", _one_of("1f1b", "zb"), default="1f1b", runtime=True),
    Option("recompute", "`False` keeps each in-flight micro-batch's autograd graph instead of recomputing it",
           _boolean, runtime=True),
    Option("metric", "leaf: `metric(outputs, targets)`, the score of one validation batch; its mean is written "
           "unchanged (the default's in percent, as the original wrote it)", _callable_or_none,
           shown_default="`None` (top-1 accuracy)"),
    Option("ring_compression", "the all-reduce's codec: " + ", ".join(f"`'{c}'`" for c in CODECS),
           _one_of(None, *CODECS), shown_default="the codec of `compression` (`'none'` by default)"),
    Option("startup_timeout", "seconds to wait for the peers at start", _seconds(), runtime=True),
    Option("send_deadline", "seconds one send or ping may take", _seconds(), runtime=True),
    Option("backward_timeout", "seconds the root waits for the pipeline; also the longest wait for another "
           "cluster's all-reduce chunk", _seconds(), runtime=True),
    Option("heartbeat_interval", "seconds between heartbeats to each pipeline neighbour", _seconds(), runtime=True),
    Option("peer_loss_grace", "seconds of unanswered heartbeats before a neighbour counts as lost", _seconds(),
           runtime=True),
    Option("resume", "continue from the newest checkpoint that every node of the job holds (every provider "
           "must be started with it); an error names a node without one", _boolean, default=False),
    Option("checkpoint_interval", "seconds between the periodic checkpoints every node writes in the background "
           "(the root decides when; the others follow it); `0` writes none", _seconds(positive=False),
           runtime=True, env="RAVNEST_CHECKPOINT_INTERVAL"),
    Option("auth_token", "the job token", _text, default="", env="RAVNEST_JOB_TOKEN", runtime=True,
           shown_default="`$RAVNEST_JOB_TOKEN`, else `''` (the node JSON's `job_token`)"),
    Option("tls_cert", "PEM certificate; `tls_cert`, `tls_key` and `tls_ca` together turn TLS on", _text,
           runtime=True),
    Option("tls_key", "PEM key of `tls_cert`", _text, runtime=True),
    Option("tls_ca", "PEM CA file that peers' certificates are checked against", _text, runtime=True),
    Option("non_finite", "a message with NaN or Inf: `'reject'` refuses it, `'skip'` drops and counts it",
           _one_of("reject", "skip"), runtime=True),
    Option("ring_port", "where the node takes direct connections (its neighbours' activations and gradients, "
           "other clusters' all-reduce chunks): a fixed port to let through a firewall, or `-1` for none "
           "(everything then comes through the node's own port, more slowly; TLS always does that)",
           _integer(-1, 65535), runtime=True,
           shown_default="`0` (any free port)"),
    Option("metrics_dir", "where `<name>.jsonl` goes; `'off'` writes none", _anything,
           shown_default="`None` (`$RAVNEST_METRICS_DIR`, else `<node_data>/metrics`)"),
    Option("metrics_interval", "seconds between `progress` records", _anything,
           shown_default="`None` (`$RAVNEST_METRICS_INTERVAL`, else 5)"),
)
_BY_NAME = {option.name: option for option in OPTIONS}


def resolve(node_name, given):
    """{option: value} for every option: the given ones checked, the others at their defaults. An unknown
    keyword is kept out and named, with the closest known one, as the original accepted any keyword."""
    values = {}
    for name, value in given.items():
        option = _BY_NAME.get(name)
        if option is None:
            close = difflib.get_close_matches(name, _BY_NAME, n=1, cutoff=0.6)
            hint = f": did you mean '{close[0]}'?" if close else f" (known options: {', '.join(sorted(_BY_NAME))})"
            log.warning("%s: ignoring the unknown keyword argument '%s'%s", node_name, name, hint)
            continue
        values[name] = option.check(name, value)
    for option in OPTIONS:
        if option.name not in values:
            values[option.name] = option.default_value()
    return values


def runtime_options(values):
    """The part of resolve()'s result the C++ node takes."""
    return {option.name: values[option.name] for option in OPTIONS
            if option.runtime and values[option.name] is not None}


def markdown_table():
    """The docs' table of the keyword options."""
    lines = ["| option | default | meaning |", "|---|---|---|"]
    for option in OPTIONS:
        default = option.shown_default
        if default is None:
            value = _RUNTIME_DEFAULTS[option.name] if option.runtime and option.default is None else option.default
            default = f"`{value!r}`" + (f" (`${option.env}` overrides it)" if option.env else "")
        lines.append(f"| `{option.name}` | {default} | {option.doc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
