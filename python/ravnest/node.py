"""ravnest.Node: one provider of a pipeline cluster, with the original Ravnest's arguments.

The C++ runtime (ravnest._C.Node) runs the stage, the transport and the compute thread; this class builds the
user's optimizer and scheduler on the stage's parameters (the very tensors the C++ stage updates) and hands
the hooks the compute thread calls. See docs/threading.md.
"""

import atexit
import collections
import copy
import json
import logging
import os
import shutil
import signal
import time
from pathlib import Path

import torch

from ravnest import _C
from ravnest import node_options
from ravnest.checkpoint import CheckpointStore, CheckpointWriter, checkpoint_folder
from ravnest.fed_batches import FedBatchTap
from ravnest.interrupts import InterruptHandler, exit_status
from ravnest.leaf import VAL_ACCURACIES_FILE, LeafHooks
from ravnest.metrics import MetricsLog, metrics_path
from ravnest.provider_join import MatchmakerMembership
from ravnest.routing_runtime import build_output
from ravnest.sharding import ClusterShard
from ravnest.utils import node_json_path

log = logging.getLogger("ravnest.node")

NODE_DATA = "node_data"
# The pipeline schedule when Node(schedule=...) is not given; picked by measurement (docs/performance.md).
DEFAULT_SCHEDULE = "1f1b"
TRAINED_FOLDER = "trained"
# How often a serving node's main thread wakes to let Python handle signals (Ctrl-C).
_SERVE_WAKE_SECONDS = 0.5
# How long a node that cannot resume keeps answering the other nodes' resume requests before it goes.
_ANSWER_LINGER_SECONDS = 3.0


class _Hooks:
    """What the compute thread calls: the optimizer and scheduler, the checkpoint snapshot, and on the leaf the
    loss and metric."""

    def __init__(self, optimizer, scheduler, leaf, optimizer_state, checkpoint):
        if optimizer is not None:
            self.optimizer_step = optimizer.step
            self.zero_grad = optimizer.zero_grad
        if optimizer_state is not None:
            self.optimizer_state = optimizer_state
        if scheduler is not None:
            self.lr_step = scheduler.step
        self.checkpoint = checkpoint
        if leaf is not None:
            self.loss = leaf.loss
            self.evaluate_batch = leaf.evaluate_batch
            self.end_evaluation = leaf.end_evaluation


class Node:
    """A provider. `name='node_<id>'` selects node_data/nodes/node_<id>.json; its role follows from that file.
    With `matchmaker='host:port'` (or $RAVNEST_MATCHMAKER) it joins through a matchmaker instead and receives that
    folder over the network (ravnest.provider_join; `name` then names the provider, default <host>-<port>).

    The original's arguments are below; the keyword options (ours) are in ravnest.node_options.OPTIONS, with
    their defaults and meaning (docs/api.md lists them). Among them: `max_in_flight` (training micro-batches in
    the pipeline at once), `metric(outputs, targets)` (validation score of one batch; default top-1 accuracy,
    written in percent), the deadlines, `schedule` and `recompute` (docs/performance.md), the security options
    (docs/security.md) and the checkpoint options.

    Checkpoints and restarts: every `checkpoint_interval` seconds the root marks a training micro-batch, and
    every stage snapshots its state once its backward passes reach that micro-batch (weights, optimizer and
    lr_scheduler state, step counters, on the root the next epoch and batch), writing it in the background to
    <stage folder>/checkpoint/step_<N>/ (docs/node_data.md). A node that stops before training ended (a
    neighbour died or hangs, a hook raised, SIGINT or SIGTERM) also writes one of where it stands, then raises
    the failure, of the original error's type; after a signal it exits with 128 + the signal number instead,
    and a second signal exits at once. `resume=True` (on every provider) restores the newest snapshot that every
    node of the job holds, so all stages go on from the same micro-batch; a node started without it, or with
    no snapshot, stops the job with an error naming it. Checkpoints are removed when training ends normally.

    `average_optim=True` averages the optimizer's state (e.g. Adam's exp_avg, exp_avg_sq and step) with the
    parameters. Its entries are found by stepping a throwaway optimizer of the same class once; a parameter
    that has no state yet when an average runs gets the state the optimizer would create (zeros), so every
    cluster hands over the same entries.
    """

    def __init__(self, name=None, model=None, optimizer=None, optimizer_params=None, lr_scheduler=None,
                 lr_scheduler_params=None, lr_step_on_epoch_change=True, criterion=None, update_frequency=1,
                 reduce_factor=None, labels=None, test_labels=None, device=torch.device('cpu'),
                 loss_filename='losses.txt', compression=False, average_optim=False, **kwargs):
        options = node_options.resolve(name or "provider", kwargs)
        self._membership = None
        if options["matchmaker"]:
            # The stage comes over the network: `name`, if given, names the provider at the matchmaker.
            self._membership = MatchmakerMembership(name, options)
            name, options["node_data"] = self._membership.node_name, self._membership.node_data
        elif name is None:
            raise ValueError("Node needs the name clusterize gave it, Node(name='node_0', ...), or a matchmaker to "
                             "join, Node(matchmaker='host:7000', ...)")
        if model is not None:
            log.warning("%s: `model` is ignored; the stage is loaded from node_data", name)
        optimizer_params = dict(optimizer_params or {})
        lr_scheduler_params = dict(lr_scheduler_params or {})
        node_data = options["node_data"]
        config_path = node_json_path(name, node_data)
        self.name = name
        self.device = torch.device(device)
        self.update_frequency = update_frequency
        self.reduce_factor = reduce_factor
        self.average_optim = average_optim
        self.loss_filename = loss_filename
        resume = options["resume"]
        self._checkpoints = CheckpointStore(checkpoint_folder(_stage_folder(config_path)))
        if not resume:
            _remove_previous_outputs(loss_filename)
            self._checkpoints.set_aside()
        self._send_deadline = options["send_deadline"]
        self._state_layout = _optimizer_state_layout(optimizer, optimizer_params) if average_optim else {}
        codec = _codec_of(compression)
        runtime = node_options.runtime_options(options)
        runtime.update(
            device=str(self.device), update_frequency=update_frequency,
            lr_step_on_epoch_change=lr_step_on_epoch_change, compression=codec,
            # reduce_factor=None: average once per epoch (0 tells the runtime so).
            reduce_every=update_frequency * reduce_factor if reduce_factor else 0,
            ring_compression=options["ring_compression"] or codec,
            optim_state_keys=[k for k, v in self._state_layout.items() if v is None],
            optim_scalar_keys=[k for k, v in self._state_layout.items() if v is not None],
            resume=resume, checkpoints=self._checkpoints.steps() if resume else [])
        self._node = _C.Node(str(config_path), **runtime)
        self.is_root, self.is_leaf = self._node.is_root, self._node.is_leaf
        self.node_id, self.cluster_id = self._node.node_id, self._node.rank
        self.ring_size = self._node.ring_size
        self.stage_index, self.cluster_length = self._node.stage_index, self._node.cluster_length
        self.routing = json.loads(Path(self._node.routing_path).read_text())
        # A stage of only parameter-free layers (activations, pooling) has nothing to optimize.
        has_parameters = bool(self.parameters())
        self._parameter_names = [name for name, _ in self._node.named_parameters()]
        self.optimizer = None
        if optimizer is not None and has_parameters:
            self.optimizer = optimizer(self.parameters(), **optimizer_params)
        self.lr_scheduler = None
        if lr_scheduler is not None and has_parameters:
            if self.optimizer is None:
                raise ValueError(f"{name}: an lr_scheduler needs an optimizer")
            self.lr_scheduler = lr_scheduler(self.optimizer, **lr_scheduler_params)
        self.metrics_log = None
        metrics_file = metrics_path(name, node_data, options["metrics_dir"])
        if metrics_file is not None:
            identity = {"node": name, "cluster": self.cluster_id, "stage": self.stage_index, "role": self.node_type}
            self.metrics_log = MetricsLog(metrics_file, identity, self._figures, options["metrics_interval"])
        for loader in (labels, test_labels):
            if isinstance(loader, ClusterShard):
                loader.bind(self.cluster_id, self.ring_size)
        # A node that is root and leaf takes each micro-batch's labels from the batch its loop fed.
        self._label_taps = (FedBatchTap(labels, "labels"), FedBatchTap(test_labels, "test_labels")) \
            if self.is_root and self.is_leaf else None
        self.leaf = None
        if self.is_leaf:
            taps = self._label_taps
            self.leaf = LeafHooks(self.routing, criterion, taps[0].iterable if taps else labels,
                                  taps[1].iterable if taps else test_labels, update_frequency, loss_filename,
                                  options["metric"], self.metrics_log)
        progress = self._resume() if resume else {}
        # The root: where the pipeline resumes (the training loop runs from the start, and the batches before
        # that position are skipped), and the positions of the micro-batches fed lately, by count.
        self._resume_at = (progress.get("next_epoch") or 0, progress.get("next_batch") or 0)
        self.epoch, self._batch = 0, 0
        self._resumed_count = self._fed_count = progress.get("backward_passes", 0)
        # Room for the in-flight window, the micro-batch waiting for a slot and the one whose snapshot is due.
        self._fed = collections.deque(maxlen=max(options["max_in_flight"], self.cluster_length) + 2)
        self._interrupts = InterruptHandler(self._on_interrupt)
        self._interrupts.install()
        self._save_requested = False
        self._cluster_averages = 0
        self._security_counters = {}
        self._finished = False
        self._writer = CheckpointWriter(self._checkpoints, name)
        averages_state = self.optimizer is not None and self._state_layout
        self._node.start(_Hooks(self.optimizer, self.lr_scheduler, self.leaf,
                                self._live_optimizer_state if averages_state else None, self._snapshot))
        if self._membership is not None:
            self._membership.report(self._figures, self.node_type, self.leaf)
        atexit.register(self._close_at_exit)

    # Role and stage ------------------------------------------------------------------------------------------
    @property
    def node_type(self):
        return "root" if self.is_root else "leaf" if self.is_leaf else "stem"

    def parameters(self):
        """The stage's parameters: the tensors the C++ stage trains (no copies)."""
        return [tensor for _, tensor in self._node.named_parameters()]

    def state_dict(self):
        """The stage's parameters and buffers under the original model's keys, as detached copies (on the
        stage's device)."""
        named = self._node.named_parameters() + self._node.named_buffers()
        return {key: tensor.detach().clone() for key, tensor in named}

    @property
    def cluster_averages(self):
        """Averages across clusters completed so far (also after close())."""
        return self._cluster_averages if self._node is None else self._node.cluster_averages

    def security_counters(self):
        """{'refused_requests': calls refused for a missing or wrong job token, 'rejected_messages': messages
        refused as malformed, from a sender that may not send them, with NaN or Inf, or repeating a micro-batch id}
        since start (also after close())."""
        if self._node is None:
            return dict(self._security_counters)
        return {"refused_requests": self._node.refused_requests, "rejected_messages": self._node.rejected_messages}

    def optimizer_state(self):
        """The optimizer's state as detached copies, named `<parameter>.<state key>` (empty without one)."""
        if self.optimizer is None:
            return {}
        named = zip(self._parameter_names, _optimizer_parameters(self.optimizer))
        return {f"{name}.{key}": value.detach().clone() for name, parameter in named
                for key, value in self.optimizer.state[parameter].items() if isinstance(value, torch.Tensor)}

    def _live_optimizer_state(self):
        """Compute thread, between optimizer steps: the state tensors the all-reduce averages in place. Creates
        the entries of parameters that have none yet, as the optimizer's first step would (zeros)."""
        result = {}
        for name, parameter in zip(self._parameter_names, _optimizer_parameters(self.optimizer)):
            state = self.optimizer.state[parameter]
            for key, scalar in self._state_layout.items():
                if key not in state:
                    state[key] = torch.zeros_like(parameter) if scalar is None else torch.zeros_like(scalar)
                result[f"{name}.{key}"] = state[key]
        return result

    # Root: feeding the pipeline -----------------------------------------------------------------------------
    def forward_compute(self, tensors=None, **kwargs):
        """Root: feeds one training micro-batch; waits while `cluster_length` micro-batches are in flight.
        After resume=True, the batches before the checkpoint's position are skipped."""
        position = (self.epoch, self._batch)
        self._batch += 1
        labels = self._label_taps[0].take() if self._label_taps else None
        if position < self._resume_at:
            return
        inputs = self._model_inputs(tensors, kwargs)
        if labels is not None:
            self.leaf.fed_labels(*position, labels)
        self._fed.append((self._fed_count + 1, position))
        self._call("forward_compute", inputs, *position)
        self._fed_count += 1

    def no_grad_forward_compute(self, tensors=None, output_type=None, **kwargs):
        """Root: feeds one validation micro-batch; the leaf scores it against its next `test_labels` batch.
        Skipped in the epochs a resumed run skips."""
        labels = self._label_taps[1].take() if self._label_taps else None
        if self.epoch < self._resume_at[0]:
            return
        inputs = self._model_inputs(tensors, kwargs)
        if labels is not None:
            self.leaf.fed_test_labels(labels)
        self._call("evaluate_batch", inputs, self.epoch)

    def predict(self, tensors=None, **kwargs):
        """Root: runs one batch through the pipeline in evaluation mode and returns the model's output, as the
        unsplit model in eval() mode would (the last stage sends it back to the root)."""
        values = self._call("predict", self._model_inputs(tensors, kwargs), self.epoch)
        return build_output(self.routing["model_output"], values)

    def end_validation(self):
        """Root: ends a validation pass; the leaf writes its accuracy to val_accuracies.txt."""
        if self.epoch >= self._resume_at[0]:
            self._call("end_evaluation", self.epoch)

    def wait_for_backwards(self):
        """Root: blocks until every micro-batch fed so far finished its backward pass; ends the epoch."""
        self._call("wait_for_backwards")
        if self.metrics_log is not None:
            self.metrics_log.record("epoch_end", epoch=self.epoch)
        self.epoch += 1
        self._batch = 0

    def trigger_save_submodel(self):
        """Every node saves its submodel to trained/ when training ends (see model_fusion)."""
        self._save_requested = True

    def update_with_latest_weights(self):
        """Kept for compatibility: nothing to do. Validation, prediction and the saved submodel always use the
        stage's latest weights (the original kept a separate copy for them that this call refreshed)."""

    def reset(self):
        """Kept for compatibility: a node has no per-run state to clear between epochs."""

    # End of training ----------------------------------------------------------------------------------------
    def serve(self):
        """Stems and leaves: works until the root's shutdown, then saves the submodel if asked."""
        while not self._call("wait_until_stopped", _SERVE_WAKE_SECONDS):
            pass
        self._finished = True
        if self._node.save_requested:
            self.save_submodel()
        self._end_checkpoints()
        self.close()

    def shutdown(self):
        """Root: waits for the outstanding backward passes and shuts the pipeline down (idempotent)."""
        if self._finished:
            return
        self._finished = True
        try:
            self._call("finish_training", self._save_requested)
            if self._save_requested:
                self.save_submodel()
            self._end_checkpoints()
        finally:
            self.close()

    def close(self):
        """Stops the node's threads and server. The node takes no more work afterwards (idempotent).

        Runs at exit at the latest: the C++ threads must stop while Python can still run their hooks."""
        if self._membership is not None:  # while the node's figures are still there to report
            self._membership.finish()
            self._membership = None
        if self._node is not None:
            self._cluster_averages = self._node.cluster_averages
            self._security_counters = self.security_counters()
            if self.metrics_log is not None:
                self.metrics_log.close(self._node.metrics())
        self._node = None

    def _figures(self):
        """The C++ node's figures now (see ravnest.metrics); {} once it closed."""
        node = self._node
        return {} if node is None else node.metrics()

    def save_submodel(self):
        """Saves the stage to trained/cluster_<cluster id>/submod_<stage index>.pt, the file model_fusion merges;
        the C++ runtime writes it, as it does for a C++ provider (examples/cpp)."""
        return Path(self._node.save_submodel(TRAINED_FOLDER))

    # Failures, checkpoints, signals ---------------------------------------------------------------------------
    def _call(self, name, *args):
        """Calls the C++ node's method `name`; when it raises, checkpoints and closes the node first. By name: a
        bound method in this frame would keep the C++ node alive in the traceback."""
        try:
            return getattr(self._node, name)(*args)
        except _C.Error as error:
            self._stop_after_failure(error)
            raise

    def _stop_after_failure(self, error):
        """The node stopped before training ended: once the compute thread is done (it may be finishing a send,
        bounded by send_deadline), writes a checkpoint of where it stands, then closes the node. After a
        signal, exits."""
        if self._node is None:
            return
        self._finished = True
        if self._node.wait_for_compute_thread(self._send_deadline + _SERVE_WAKE_SECONDS):
            self._writer.close()
            epoch, backward_passes = self._node.progress
            whole_step = backward_passes > 0 and backward_passes % self.update_frequency == 0
            if whole_step and self._node.stopped_between_steps:
                folder = self._checkpoints.write(backward_passes,
                                                 *self._state_copy(epoch, backward_passes, str(error)))
                print(f"{error}\n{self.name}: checkpoint written to {folder}", flush=True)
            else:
                why = "not a whole optimizer step" if not whole_step else "an optimizer step or average was cut short"
                print(f"{error}\n{self.name}: no checkpoint of this point ({backward_passes} backward passes: {why}); "
                      f"the periodic ones stay in {self._checkpoints.folder}", flush=True)
        else:
            print(f"{error}\n{self.name}: no checkpoint: the compute thread did not end within "
                  f"{self._send_deadline:.0f} s", flush=True)
        self.close()
        if self._interrupts.signum is not None:
            raise SystemExit(exit_status(self._interrupts.signum)) from error

    def _snapshot(self, epoch, backward_passes):
        """Compute thread, right after the backward pass that made `backward_passes`, which the root marked:
        copies the state; the writer thread writes it."""
        self._writer.submit(backward_passes, *self._state_copy(epoch, backward_passes, "periodic"))

    def _state_copy(self, epoch, backward_passes, reason):
        """(stage state, optimizer state, progress) now, as copies that training may go on beside."""
        progress = {"node": self.name, "reason": reason, "epoch": epoch, "next_epoch": None, "next_batch": None}
        if self.is_root:
            progress["next_epoch"], progress["next_batch"] = self._position_after(backward_passes)
        optimizer_state = {
            "optimizer": None if self.optimizer is None else _host_copy(self.optimizer.state_dict()),
            "lr_scheduler": None if self.lr_scheduler is None else _host_copy(self.lr_scheduler.state_dict()),
        }
        return _host_copy(self.state_dict()), optimizer_state, progress

    def _position_after(self, count):
        """Root: the (epoch, batch) to feed after the `count`-th training micro-batch, so a resumed run feeds
        exactly the micro-batches after it."""
        for fed, (epoch, batch) in reversed(list(self._fed)):  # list(): one step, the feeder may append
            if fed == count:
                return epoch, batch + 1
        if count == self._resumed_count:  # nothing fed since the restart
            return self._resume_at
        raise RuntimeError(f"{self.name}: no position is known for training micro-batch {count}")

    def _resume(self):
        """resume=True: agrees with every node of the job on the newest checkpoint all of them hold, restores it
        and returns its progress. A node started without resume, or without that checkpoint, stops the job."""
        try:
            step = self._node.agree_on_resume()
            stage_state, optimizer_state, progress = self._checkpoints.read(step)
            self._restore(stage_state, optimizer_state, progress)
        except Exception as error:
            # The others must not wait for a node that cannot go on: its cluster is told at once; the other
            # clusters' nodes, which reach the same verdict, may still be waiting for this node's state.
            self._node.stop(f"{self.name} cannot resume: {error}")
            if self.ring_size > 1:
                time.sleep(_ANSWER_LINGER_SECONDS)
            self.close()
            raise
        self._checkpoints.remove_newer_than(step)
        self._node.resume_at(progress["epoch"], step)
        return progress

    def _end_checkpoints(self):
        """Training ended normally: the checkpoints of this run are of no more use."""
        self._writer.close()
        self._checkpoints.remove_all()

    def _restore(self, stage_state, optimizer_state, progress):
        """Puts a checkpoint's weights into the stage's own tensors and its state into the optimizer and
        lr_scheduler, before the compute thread starts."""
        named = dict(self._node.named_parameters() + self._node.named_buffers())
        if set(named) != set(stage_state):
            raise ValueError(f"{self.name}: the checkpoint in {self._checkpoints.folder} holds "
                             f"{sorted(stage_state)}, the stage {sorted(named)}: it is from another model split; "
                             f"remove it to start over")
        with torch.no_grad():
            for key, tensor in named.items():
                tensor.copy_(stage_state[key])
        if self.optimizer is not None and optimizer_state["optimizer"] is not None:
            self.optimizer.load_state_dict(optimizer_state["optimizer"])
        if self.lr_scheduler is not None and optimizer_state["lr_scheduler"] is not None:
            self.lr_scheduler.load_state_dict(optimizer_state["lr_scheduler"])
        print(f"{self.name}: resuming from the checkpoint at backward pass {progress['backward_passes']} "
              f"(epoch {progress['epoch']}), which every node of the job holds", flush=True)

    def _on_interrupt(self, signum):
        """The first SIGINT or SIGTERM: stops the cluster; the next call into the node raises, checkpoints and
        exits. A node that already finished just exits."""
        if self._node is None or self._finished:
            raise SystemExit(exit_status(signum))
        self._node.stop(f"interrupted by {signal.Signals(signum).name}")

    def _close_at_exit(self):
        try:
            if self.is_root and self._node is not None:
                self.shutdown()
        except _C.Error as error:
            log.error("%s: %s", self.name, error)
        finally:
            self.close()

    def _model_inputs(self, tensors, kwargs):
        if not self.is_root:
            raise RuntimeError(f"{self.name} is a {self.node_type}: only the root feeds data")
        if isinstance(tensors, dict):
            kwargs = {**tensors, **kwargs}
            tensors = None
        args = [] if tensors is None else [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
        inputs = {}
        for entry in self.routing["model_inputs"]:
            if entry["position"] < len(args):
                value = args[entry["position"]]
            elif entry["keyword"] in kwargs:
                value = kwargs[entry["keyword"]]
            else:
                raise ValueError(f"{self.name}: the model input '{entry['keyword']}' is missing")
            inputs[entry["name"]] = value.to(self.device)
        return inputs


def _host_copy(value):
    """`value` (tensors in dicts and lists) with every tensor copied to host memory: a snapshot must not hold a
    second copy of the state on the device while it waits to be written."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: _host_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_host_copy(item) for item in value)
    return copy.deepcopy(value)


def _codec_of(compression):
    """The codec of activations and gradients: compression=True is the original's fp16; ours also takes a
    codec name ('none', 'fp16', 'bf16', 'int8-blockwise')."""
    if compression is True:
        return "fp16"
    if compression is False or compression is None:
        return "none"
    if isinstance(compression, str):
        return compression
    raise TypeError(f"compression must be True, False or a codec name ('none', 'fp16', 'bf16', "
                    f"'int8-blockwise'), got {compression!r}")


def _stage_folder(config_path):
    """The node's stage folder (its node JSON's template_path); node_data/ when the JSON cannot be read (the
    C++ node then reports why)."""
    try:
        return Path(json.loads(Path(config_path).read_text())["template_path"])
    except (OSError, ValueError, KeyError, TypeError):
        return Path(config_path).parent.parent


def _optimizer_parameters(optimizer):
    """The optimizer's parameters in the order they were given: the stage's parameters()."""
    return [parameter for group in optimizer.param_groups for parameter in group["params"]]


def _optimizer_state_layout(optimizer, optimizer_params):
    """The per-parameter state entries `optimizer` creates, by key: None for tensors of the parameter's shape
    (moments), a zero template for one-element ones (step counters). Other entries (None, numbers) are not
    averaged. Found by stepping a throwaway instance on a 2-element parameter with a zero gradient."""
    if optimizer is None:
        return {}
    probe = torch.zeros(2, requires_grad=True)
    probe.grad = torch.zeros(2)
    instance = optimizer([probe], **optimizer_params)
    instance.step()
    layout = {}
    for key, value in sorted(instance.state[probe].items()):
        if isinstance(value, torch.Tensor) and value.shape == probe.shape:
            layout[key] = None
        elif isinstance(value, torch.Tensor) and value.numel() == 1:
            layout[key] = torch.zeros_like(value)
    return layout


def _remove_previous_outputs(loss_filename):
    for path in (loss_filename, VAL_ACCURACIES_FILE):
        if os.path.exists(path):
            os.remove(path)
    shutil.rmtree(TRAINED_FOLDER, ignore_errors=True)
