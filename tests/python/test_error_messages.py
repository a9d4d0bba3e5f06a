"""The common mistakes, made for real with the CNN example: each message names the node, its peer or file, and
what to do."""

import json
import os
import socket
import subprocess

import pytest

from cnn_example import copy_example
from pipeline_harness import PYTHON

ENV = dict(os.environ, RAVNEST_EPOCHS="1", OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cnn_mistakes")
    copy_example(folder)
    return folder


def provider(folder, *args, timeout=120):
    done = subprocess.run([PYTHON, "provider.py", *args], cwd=folder, capture_output=True, text=True,
                          timeout=timeout, env=ENV)
    assert done.returncode != 0, done.stdout
    return done.stderr


def address_of(folder, name):
    document = json.loads((folder / "node_data" / "nodes" / f"{name}.json").read_text())
    return document["local_host"], document["local_port"]


def test_a_wrong_node_name_lists_the_names_there_are(example):
    message = provider(example, "node_7")
    assert "node_7: no node_data/nodes/node_7.json: this node_data/ has node_0, node_1, node_2" in message
    assert "python provider.py node_0" in message


def test_a_folder_without_node_data_says_where_to_start(example, tmp_path):
    for name in ("data.py", "models.py", "provider.py"):
        (tmp_path / name).write_text((example / name).read_text())
    message = provider(tmp_path, "node_0")
    assert f"node_0: there is no node_data/ folder in {tmp_path}" in message
    assert "start the provider in the folder where cluster formation ran" in message


def test_a_provider_started_before_cluster_formation_says_to_run_it(example, tmp_path):
    for name in ("data.py", "models.py", "provider.py"):
        (tmp_path / name).write_text((example / name).read_text())
    (tmp_path / "node_data").mkdir()
    (tmp_path / "node_data" / "node_configs.json").write_text((example / "node_data" / "node_configs.json").read_text())
    message = provider(tmp_path, "node_0")
    assert "node_0: node_data/nodes/ holds no node JSON yet: run cluster formation" in message
    assert "python cluster_formation.py" in message


def test_a_port_in_use_names_the_node_the_address_and_the_way_out(example):
    host, port = address_of(example, "node_0")
    with socket.socket() as squatter:
        squatter.bind((host, port))
        squatter.listen()
        message = provider(example, "node_0")
    assert f"node_0 cannot listen on {host}:{port}: the port is in use" in message
    assert "Stop the other process, or pick another port in node_data/node_configs.json" in message


def test_a_peer_not_started_is_named_early_and_when_the_wait_ends(example):
    # The stem alone, with a short startup timeout: neither neighbour ever starts.
    script = ("import sys, torch\nfrom ravnest import Node\n"
              "Node(name='node_1', optimizer=torch.optim.Adam, startup_timeout=8).serve()\n")
    done = subprocess.run([PYTHON, "-c", script], cwd=example, capture_output=True, text=True, timeout=120,
                          env=ENV)
    assert done.returncode != 0
    root, leaf = ("{}:{}".format(*address_of(example, name)) for name in ("node_0", "node_2"))
    silent = f"node_0 ({root}), node_2 ({leaf})"
    assert f"waiting for {silent} to answer: start their providers (giving up after 8 s)" in done.stderr
    assert f"node_1 stopped: {silent} did not answer within 8 s: start their providers" in done.stderr


def test_an_unknown_codec_names_the_codecs_there_are(example):
    done = subprocess.run([PYTHON, "provider.py", "node_1"], cwd=example, capture_output=True, text=True,
                          timeout=120, env=dict(ENV, RAVNEST_COMPRESSION="zstd"))
    assert done.returncode != 0, done.stdout
    assert "unknown codec 'zstd': use none, fp16, bf16 or int8-blockwise" in done.stderr, done.stderr[-3000:]


def test_logs_are_quiet_by_default_and_verbose_on_request_in_python_too(tmp_path):
    copy_example(tmp_path)

    def cluster_formation(**env):
        done = subprocess.run([PYTHON, "cluster_formation.py"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, env=dict(ENV, **env))
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stderr

    assert "model needs about" not in cluster_formation()
    assert "[ravnest.clusterize] [INFO] clusterize: model needs about" in cluster_formation(RAVNEST_LOG_LEVEL="info")
