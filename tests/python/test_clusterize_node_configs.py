"""Every malformed node_configs.json gets a ValueError that names the entry and the field."""

import json

import pytest

from ravnest.clusterize.node_configs import NodeConfig, load_node_configs


def entry(address="127.0.0.1:8080", ram=8, bandwidth=10):
    return {"IP": address, "benchmarks": {"ram": ram, "bandwidth": bandwidth}}


def load(tmp_path, document):
    path = tmp_path / "node_configs.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return load_node_configs(path)


def test_valid_configs_are_read_in_id_order(tmp_path):
    nodes = load(tmp_path, {"1": entry("10.0.0.2:9000", 16, 20.5), "0": entry()})
    assert nodes == [NodeConfig(0, "127.0.0.1", 8080, 8.0, 10.0), NodeConfig(1, "10.0.0.2", 9000, 16.0, 20.5)]
    assert nodes[1].address == "10.0.0.2:9000"


def without(dictionary, key):
    return {k: v for k, v in dictionary.items() if k != key}


MALFORMED = {
    "missing IP": ({"0": without(entry(), "IP")}, '"0".*"IP".*missing'),
    "missing benchmarks": ({"0": without(entry(), "benchmarks")}, '"0".*"benchmarks".*missing'),
    "missing ram": ({"0": {"IP": "a:1", "benchmarks": {"bandwidth": 1}}}, '"0".*"benchmarks.ram".*missing'),
    "missing bandwidth": ({"0": {"IP": "a:1", "benchmarks": {"ram": 1}}}, '"0".*"benchmarks.bandwidth".*missing'),
    "entry not an object": ({"0": "127.0.0.1:8080"}, '"0".*"\\(entry\\)"'),
    "ram a string": ({"0": entry(ram="8")}, '"0".*"benchmarks.ram".*number'),
    "ram a bool": ({"0": entry(ram=True)}, '"0".*"benchmarks.ram".*number'),
    "ram zero": ({"0": entry(ram=0)}, '"0".*"benchmarks.ram".*positive'),
    "ram negative": ({"0": entry(), "1": entry("h:2", ram=-4)}, '"1".*"benchmarks.ram".*positive'),
    "bandwidth null": ({"0": entry(bandwidth=None)}, '"0".*"benchmarks.bandwidth".*number'),
    "bandwidth negative": ({"0": entry(bandwidth=-1)}, '"0".*"benchmarks.bandwidth".*positive'),
    "address without port": ({"0": entry("127.0.0.1")}, '"0".*"IP".*host:port'),
    "port not a number": ({"0": entry("127.0.0.1:http")}, '"0".*"IP".*port'),
    "port out of range": ({"0": entry("127.0.0.1:70000")}, '"0".*"IP".*port'),
    "empty host": ({"0": entry(":8080")}, '"0".*"IP".*host'),
    "address not a string": ({"0": entry(8080)}, '"0".*"IP".*host:port'),
    "duplicate address": ({"0": entry(), "1": entry()}, '"1".*"IP".*already used by entry "0"'),
    "ids not starting at 0": ({"1": entry()}, '"1".*"id".*consecutive.*"0" is missing'),
    "ids with a gap": ({"0": entry(), "2": entry("h:2")}, '"2".*"id".*consecutive.*"1" is missing'),
    "id not an integer": ({"0": entry(), "one": entry("h:2")}, '"one".*"id".*integer'),
    "id with leading zero": ({"00": entry()}, '"00".*"id".*leading zeros'),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_configs_name_entry_and_field(tmp_path, case):
    document, message = MALFORMED[case]
    with pytest.raises(ValueError, match=message):
        load(tmp_path, document)


@pytest.mark.parametrize("document, message", [
    ("{not json", "not valid JSON"),
    ("[]", "non-empty JSON object"),
    ("{}", "non-empty JSON object"),
])
def test_unreadable_files_are_refused(tmp_path, document, message):
    with pytest.raises(ValueError, match=message):
        load(tmp_path, document)


def test_missing_file_says_how_to_create_it(tmp_path):
    with pytest.raises(ValueError, match="not found: create it"):
        load_node_configs(tmp_path / "node_configs.json")
