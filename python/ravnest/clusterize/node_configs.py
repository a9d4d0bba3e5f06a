"""Reads and validates node_data/node_configs.json, the requester's description of the providers.

The format is the original Ravnest one:
    {"0": {"IP": "host:port", "benchmarks": {"ram": GB, "bandwidth": Mbps}}, "1": {...}}
"""

import json
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeConfig:
    node_id: int
    host: str
    port: int
    ram_gb: float
    bandwidth_mbps: float

    @property
    def address(self):
        return f"{self.host}:{self.port}"


def load_node_configs(path):
    """Returns the nodes of `path` as NodeConfigs ordered by id.

    Raises ValueError naming the entry and the field for every malformed part.
    """
    try:
        with open(path) as file:
            document = json.load(file)
    except FileNotFoundError:
        raise ValueError(f"{path} not found: create it with one entry per provider, e.g. "
                         '{"0": {"IP": "127.0.0.1:8080", "benchmarks": {"ram": 8, "bandwidth": 10}}}') from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not document:
        raise ValueError(f"{path} must be a non-empty JSON object mapping node ids to node entries")
    _check_ids(path, list(document))
    nodes = [_parse_entry(path, key, document[key]) for key in sorted(document, key=int)]
    _check_unique_addresses(path, nodes)
    return nodes


def _problem(path, entry, field, message):
    return ValueError(f'{path}: entry "{entry}", field "{field}": {message}')


def _check_ids(path, keys):
    for key in keys:
        if not (key.isascii() and key.isdigit()) or (len(key) > 1 and key.startswith("0")):
            raise _problem(path, key, "id", "node ids must be integers written without sign or leading zeros")
    ids = sorted(int(key) for key in keys)
    for expected, actual in enumerate(ids):
        if actual != expected:
            raise _problem(path, str(actual), "id",
                           f'node ids must be consecutive from "0"; "{expected}" is missing')


def _parse_entry(path, key, entry):
    if not isinstance(entry, dict):
        raise _problem(path, key, "(entry)", 'must be an object with "IP" and "benchmarks"')
    for field in ("IP", "benchmarks"):
        if field not in entry:
            raise _problem(path, key, field, "missing")
    benchmarks = entry["benchmarks"]
    if not isinstance(benchmarks, dict):
        raise _problem(path, key, "benchmarks", 'must be an object with "ram" and "bandwidth"')
    host, port = _parse_address(path, key, entry["IP"])
    return NodeConfig(
        node_id=int(key),
        host=host,
        port=port,
        ram_gb=_positive_number(path, key, benchmarks, "ram"),
        bandwidth_mbps=_positive_number(path, key, benchmarks, "bandwidth"),
    )


def _parse_address(path, key, address):
    if not isinstance(address, str) or ":" not in address:
        raise _problem(path, key, "IP", f'must be a "host:port" string, got {address!r}')
    host, port = address.rsplit(":", 1)
    if not host or any(character.isspace() for character in host):
        raise _problem(path, key, "IP", f'the host part of {address!r} is empty or contains spaces')
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise _problem(path, key, "IP", f"the port of {address!r} must be an integer from 1 to 65535")
    return host, int(port)


def _positive_number(path, key, benchmarks, name):
    field = f"benchmarks.{name}"
    if name not in benchmarks:
        raise _problem(path, key, field, "missing")
    value = benchmarks[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _problem(path, key, field, f"must be a number, got {value!r}")
    if value <= 0:
        raise _problem(path, key, field, f"must be positive, got {value!r}")
    return float(value)


def _check_unique_addresses(path, nodes):
    first_owner = {}
    for node in nodes:
        owner = first_owner.setdefault(node.address, node.node_id)
        if owner != node.node_id:
            raise _problem(path, node.node_id, "IP",
                           f'address {node.address} is already used by entry "{owner}"; give every node its own port')
