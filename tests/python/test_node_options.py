"""ravnest.Node's keyword options come from one table (ravnest.node_options): defaults, validation, the warning
for an unknown keyword and the docs."""

import logging
import re
from pathlib import Path

import pytest

from ravnest import _C, node_options

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_the_docs_show_the_table():
    text = API_DOC.read_text()
    found = re.search(r"<!-- node-options:begin -->\n(.*?)\n<!-- node-options:end -->", text, re.S)
    assert found, "docs/api.md lacks the node-options markers"
    assert found.group(1) == node_options.markdown_table(), \
        "docs/api.md is out of date: paste the output of `python -m ravnest.node_options` between its markers"


def test_runtime_defaults_are_the_cpp_defaults():
    defaults = _C.node_option_defaults()
    values = node_options.resolve("node_0", {})
    for option in node_options.OPTIONS:
        if option.runtime and option.default is None and option.env is None:
            assert values[option.name] == defaults[option.name], option.name
    assert values["startup_timeout"] == 120.0 and values["checkpoint_interval"] == 60.0


def test_an_unknown_keyword_is_named_with_the_closest_option(caplog):
    with caplog.at_level(logging.WARNING, logger="ravnest.node"):
        values = node_options.resolve("node_0", {"max_inflight": 2})
    assert "max_inflight" not in values and values["max_in_flight"] == 0
    assert "ignoring the unknown keyword argument 'max_inflight': did you mean 'max_in_flight'?" in caplog.text


@pytest.mark.parametrize("name, value, message", [
    ("max_in_flight", -1, "max_in_flight must be in"),
    ("schedule", "gpipe", "schedule must be one of"),
    ("startup_timeout", 0, "startup_timeout must be positive"),
    ("checkpoint_interval", -5, "checkpoint_interval must be 0 or more"),
    ("ring_port", 70000, "ring_port must be in"),
    ("recompute", "yes", "recompute must be True or False"),
])
def test_a_bad_value_is_refused_naming_the_option(name, value, message):
    with pytest.raises((ValueError, TypeError), match=message):
        node_options.resolve("node_0", {name: value})


def test_an_environment_variable_sets_a_default(monkeypatch):
    monkeypatch.setenv("RAVNEST_CHECKPOINT_INTERVAL", "2.5")
    assert node_options.resolve("node_0", {})["checkpoint_interval"] == 2.5
    assert node_options.resolve("node_0", {"checkpoint_interval": 7})["checkpoint_interval"] == 7


def test_the_runtime_refuses_an_option_it_does_not_know(tmp_path):
    with pytest.raises(_C.InvalidArgumentError, match="no node option 'bogus'"):
        _C.Node(str(tmp_path / "missing.json"), bogus=1)
