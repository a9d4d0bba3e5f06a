"""ravnest: asynchronous pipeline-parallel training across clusters of ordinary PCs.

A drop-in replacement for the original Ravnest API, on a C++ core (``ravnest._C``).
"""

from ravnest._C import (
    AuthenticationError,
    ConfigError,
    Error,
    InvalidArgumentError,
    NetworkError,
    PeerClient,
    PeerServer,
    ProtocolError,
    RingAllReduce,
    TimeoutError,
    decode_tensor,
    encode_tensor,
    log_level,
)
from ravnest.clusterize import clusterize
from ravnest.fusion import model_fusion
from ravnest.logs import apply_environment as _apply_log_level_environment
from ravnest.logs import set_log_level
from ravnest.node import Node
from ravnest.sharding import shard
from ravnest.trainer import Trainer
from ravnest.utils import load_node_json_configs, set_seed

__version__ = "0.1.0"

_apply_log_level_environment()

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "Error",
    "InvalidArgumentError",
    "NetworkError",
    "Node",
    "PeerClient",
    "PeerServer",
    "ProtocolError",
    "RingAllReduce",
    "TimeoutError",
    "Trainer",
    "clusterize",
    "decode_tensor",
    "encode_tensor",
    "load_node_json_configs",
    "log_level",
    "model_fusion",
    "set_log_level",
    "set_seed",
    "shard",
]
