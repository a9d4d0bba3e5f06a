"""ravnest.Node: one provider of a pipeline cluster, with the original Ravnest's arguments.

The C++ runtime (ravnest._C.Node) runs the stage, the transport and the compute thread; this class builds the
user's optimizer and scheduler on the stage's parameters (the very tensors the C++ stage updates) and hands
the hooks the compute thread calls. See docs/threading.md.
"""

import atexit
import collections
import json
import logging
import os
import shutil
import signal
from pathlib import Path

import torch

from ravnest import _C
from ravnest.checkpoint import checkpoint_folder, read_checkpoint, remove_checkpoint, write_checkpoint
from ravnest.interrupts import InterruptHandler, exit_status
from ravnest.leaf import VAL_ACCURACIES_FILE, LeafHooks
from ravnest.metrics import MetricsLog, metrics_path
from ravnest.routing_runtime import build_output
from ravnest.utils import node_json_path

log = logging.getLogger("ravnest.node")

NODE_DATA = "node_data"
# The pipeline schedule when Node(schedule=...) is not given; picked by measurement (docs/performance.md).
DEFAULT_SCHEDULE = "1f1b"
TRAINED_FOLDER = "trained"
# How often a serving node's main thread wakes to let Python handle signals (Ctrl-C).
_SERVE_WAKE_SECONDS = 0.5


class _Hooks:
    """What the compute thread calls: the optimizer and scheduler, and on the leaf the loss and metric."""

    def __init__(self, optimizer, scheduler, leaf, optimizer_state=None):
        if optimizer is not None:
            self.optimizer_step = optimizer.step
            self.zero_grad = optimizer.zero_grad
        if optimizer_state is not None:
            self.optimizer_state = optimizer_state
        if scheduler is not None:
            self.lr_step = scheduler.step
        if leaf is not None:
            self.loss = leaf.loss
            self.evaluate_batch = leaf.evaluate_batch
            self.end_evaluation = leaf.end_evaluation


class Node:
    """A provider. `name='node_<id>'` selects node_data/nodes/node_<id>.json; its role follows from that file.

    Extra keyword arguments (ours): `max_in_flight` (training micro-batches in the pipeline at once; default
    the cluster length, 1 is synchronous), `metric(outputs, targets)` (validation score of one batch; default
    top-1 accuracy), `node_data` (folder, default node_data), the deadlines in seconds (docs/errors.md):
    `startup_timeout` (120), `send_deadline` (60), `backward_timeout` (1800; also the longest wait for another
    cluster's all-reduce chunk), `heartbeat_interval` (1) and `peer_loss_grace` (10: a pipeline neighbour that
    answers no heartbeat for that long stops the cluster),
    `ring_compression` (codec of the all-reduce across clusters: 'none', 'fp16',
    'bf16' or 'int8-blockwise'; default the codec of `compression`), `metrics_dir` (where
    <name>.jsonl metrics go; default $RAVNEST_METRICS_DIR, else <node_data>/metrics; 'off' writes none),
    `metrics_interval` (seconds between periodic metrics records; default $RAVNEST_METRICS_INTERVAL, else 5).
    See ravnest.metrics.

    Pipeline schedule (docs/performance.md): `schedule` ('1f1b' or 'zb', zero bubble: weight gradients are
    deferred to time the stage would sit idle; default DEFAULT_SCHEDULE) and `recompute` (True: the backward
    pass recomputes the forward; False: each micro-batch in flight keeps its autograd graph, faster but with
    more memory, see the `memory` estimate clusterize prints). Every schedule computes a micro-batch's gradients
    with the weights its forward pass used.

    Security (docs/security.md): `auth_token` (the job token; default the RAVNEST_JOB_TOKEN environment variable,
    else the `job_token` clusterize wrote into the node JSON), `tls_cert`, `tls_key` and `tls_ca` (PEM files; all
    three turn TLS on), `non_finite` ('reject', the default: a message with NaN or Inf is refused and logged;
    'skip': it is dropped and counted), `ring_port` (where the node takes the all-reduce's ring connections from
    other clusters: 0, the default, any free port; a number, that port, to let through a firewall; -1 none,
    their chunks then come through the node's own port, more slowly; TLS always does that).

    Failures and restarts: a node that stops before training ended (a neighbour died or hangs, a hook raised,
    SIGINT or SIGTERM) writes a checkpoint of its stage to <stage folder>/checkpoint/ (docs/node_data.md) and
    raises the failure, of the original error's type; after a signal it exits with 128 + the signal number
    instead, and a second signal exits at once. `resume=True` continues from that checkpoint: the stage's
    weights, the optimizer and lr_scheduler state, the step counters, and on the root the epoch and batch the
    pipeline had not finished (the batches before it are read from the loader and skipped). A node without a
    checkpoint starts from the beginning. The checkpoint is removed when training ends normally.

    `average_optim=True` averages the optimizer's state (e.g. Adam's exp_avg, exp_avg_sq and step) with the
    parameters. Its entries are found by stepping a throwaway optimizer of the same class once; a parameter
    that has no state yet when an average runs gets the state the optimizer would create (zeros), so every
    cluster hands over the same entries.
    """

    def __init__(self, name=None, model=None, optimizer=None, optimizer_params={}, lr_scheduler=None,
                 lr_scheduler_params={}, lr_step_on_epoch_change=True, criterion=None, update_frequency=1,
                 reduce_factor=None, labels=None, test_labels=None, device=torch.device('cpu'),
                 loss_filename='losses.txt', compression=False, average_optim=False, **kwargs):
        if name is None:
            raise ValueError("Node needs the name clusterize gave it: Node(name='node_0', ...)")
        if model is not None:
            log.warning("%s: `model` is ignored; the stage is loaded from node_data", name)
        node_data = kwargs.pop("node_data", NODE_DATA)
        config_path = node_json_path(name, node_data)
        metrics_file = metrics_path(name, node_data, kwargs.pop("metrics_dir", None))
        metrics_interval = kwargs.pop("metrics_interval", None)
        self.name = name
        self.device = torch.device(device)
        self.update_frequency = update_frequency
        self.reduce_factor = reduce_factor
        self.average_optim = average_optim
        self.loss_filename = loss_filename
        metric = kwargs.pop("metric", None)
        resume = kwargs.pop("resume", False)
        self._checkpoint = checkpoint_folder(_stage_folder(config_path))
        restored = _restored_checkpoint(name, self._checkpoint) if resume else None
        if not resume:
            _remove_previous_outputs(loss_filename)
        progress = restored[2] if restored else {}
        self._send_deadline = kwargs.pop("send_deadline", 60.0)
        max_in_flight = kwargs.pop("max_in_flight", 0)
        self._state_layout = _optimizer_state_layout(optimizer, optimizer_params) if average_optim else {}
        # reduce_factor=None: average once per epoch (0 tells the runtime so).
        reduce_every = update_frequency * reduce_factor if reduce_factor else 0
        codec = _codec_of(compression)
        self._node = _C.Node(str(config_path), device=str(self.device), update_frequency=update_frequency,
                             max_in_flight=max_in_flight,
                             lr_step_on_epoch_change=lr_step_on_epoch_change, compression=codec,
                             startup_timeout=kwargs.pop("startup_timeout", 120.0),
                             peer_loss_grace=kwargs.pop("peer_loss_grace", 10.0),
                             heartbeat_interval=kwargs.pop("heartbeat_interval", 1.0),
                             send_deadline=self._send_deadline, resume_epoch=progress.get("epoch", 0),
                             resume_backward_passes=progress.get("backward_passes", 0),
                             backward_timeout=kwargs.pop("backward_timeout", 1800.0), reduce_every=reduce_every,
                             ring_codec=kwargs.pop("ring_compression", codec),
                             optim_state_keys=[k for k, v in self._state_layout.items() if v is None],
                             optim_scalar_keys=[k for k, v in self._state_layout.items() if v is not None],
                             auth_token=kwargs.pop("auth_token", os.environ.get("RAVNEST_JOB_TOKEN", "")),
                             tls_cert=str(kwargs.pop("tls_cert", "")), tls_key=str(kwargs.pop("tls_key", "")),
                             tls_ca=str(kwargs.pop("tls_ca", "")), non_finite=kwargs.pop("non_finite", "reject"),
                             schedule=kwargs.pop("schedule", DEFAULT_SCHEDULE),
                             recompute=kwargs.pop("recompute", True), ring_port=kwargs.pop("ring_port", 0))
        if kwargs:
            log.warning("%s: ignoring unknown arguments %s", name, sorted(kwargs))
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
        if metrics_file is not None:
            identity = {"node": name, "cluster": self.cluster_id, "stage": self.stage_index, "role": self.node_type}
            self.metrics_log = MetricsLog(metrics_file, identity, self._figures, metrics_interval)
        self.leaf = None
        if self.is_leaf:
            self.leaf = LeafHooks(self.routing, criterion, labels, test_labels, update_frequency, loss_filename,
                                  metric, self.metrics_log)
        if restored:
            self._restore(*restored)
        # The root: where the pipeline resumes (the training loop runs from the start, and the batches before
        # that position are skipped), and the positions of the micro-batches fed but maybe unfinished.
        self._resume_at = (progress.get("next_epoch") or 0, progress.get("next_batch") or 0)
        self.epoch, self._batch = 0, 0
        self._fed = collections.deque(maxlen=max(max_in_flight, self.cluster_length))
        self._fed_count = progress.get("backward_passes", 0)
        self._interrupts = InterruptHandler(self._on_interrupt)
        self._interrupts.install()
        self._save_requested = False
        self._cluster_averages = 0
        self._security_counters = {}
        self._finished = False
        averages_state = self.optimizer is not None and self._state_layout
        self._node.start(_Hooks(self.optimizer, self.lr_scheduler, self.leaf,
                                self._live_optimizer_state if averages_state else None))
        atexit.register(self._close_at_exit)

    # Role and stage ------------------------------------------------------------------------------------------
    @property
    def node_type(self):
        return "root" if self.is_root else "leaf" if self.is_leaf else "stem"

    def parameters(self):
        """The stage's parameters: the tensors the C++ stage trains (no copies)."""
        return [tensor for _, tensor in self._node.named_parameters()]

    def state_dict(self):
        """The stage's parameters and buffers under the original model's keys, as detached copies."""
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
        if position < self._resume_at:
            return
        self._call("forward_compute", self._model_inputs(tensors, kwargs), *position)
        self._fed.append(position)
        self._fed_count += 1

    def no_grad_forward_compute(self, tensors=None, output_type=None, **kwargs):
        """Root: feeds one validation micro-batch; the leaf scores it against its next `test_labels` batch.
        Skipped in the epochs a resumed run skips."""
        if self.epoch < self._resume_at[0]:
            return
        self._call("evaluate_batch", self._model_inputs(tensors, kwargs), self.epoch)

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
        remove_checkpoint(self._checkpoint)
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
            remove_checkpoint(self._checkpoint)
        finally:
            self.close()

    def close(self):
        """Stops the node's threads and server. The node takes no more work afterwards (idempotent).

        Runs at exit at the latest: the C++ threads must stop while Python can still run their hooks."""
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
        bounded by send_deadline), writes the checkpoint, then closes the node. After a signal, exits."""
        if self._node is None:
            return
        self._finished = True
        if self._node.wait_for_compute_thread(self._send_deadline + _SERVE_WAKE_SECONDS):
            folder = self._write_checkpoint(str(error))
            print(f"{error}\n{self.name}: checkpoint written to {folder}", flush=True)
        else:
            print(f"{error}\n{self.name}: no checkpoint: the compute thread did not end within "
                  f"{self._send_deadline:.0f} s", flush=True)
        self.close()
        if self._interrupts.signum is not None:
            raise SystemExit(exit_status(self._interrupts.signum)) from error

    def _write_checkpoint(self, reason):
        epoch, backward_passes = self._node.progress
        progress = {"node": self.name, "reason": reason, "epoch": epoch, "backward_passes": backward_passes,
                    "next_epoch": None, "next_batch": None}
        if self.is_root:
            # Micro-batches fed but not through their backward pass are fed again after the restart.
            unfinished = self._fed_count - backward_passes
            next_epoch, next_batch = self._fed[-unfinished] if unfinished > 0 else (self.epoch, self._batch)
            progress.update(next_epoch=next_epoch, next_batch=next_batch)
        optimizer_state = {
            "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
            "lr_scheduler": None if self.lr_scheduler is None else self.lr_scheduler.state_dict(),
        }
        return write_checkpoint(self._checkpoint, self.state_dict(), optimizer_state, progress)

    def _restore(self, stage_state, optimizer_state, progress):
        """Puts a checkpoint's weights into the stage's own tensors and its state into the optimizer and
        lr_scheduler, before the compute thread starts."""
        named = dict(self._node.named_parameters() + self._node.named_buffers())
        if set(named) != set(stage_state):
            raise ValueError(f"{self.name}: the checkpoint in {self._checkpoint} holds {sorted(stage_state)}, the "
                             f"stage {sorted(named)}: it is from another model split; remove it to start over")
        with torch.no_grad():
            for key, tensor in named.items():
                tensor.copy_(stage_state[key])
        if self.optimizer is not None and optimizer_state["optimizer"] is not None:
            self.optimizer.load_state_dict(optimizer_state["optimizer"])
        if self.lr_scheduler is not None and optimizer_state["lr_scheduler"] is not None:
            self.lr_scheduler.load_state_dict(optimizer_state["lr_scheduler"])
        log.info("%s: resuming from %s (epoch %s, %s backward passes)", self.name, self._checkpoint,
                 progress["epoch"], progress["backward_passes"])

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


def _restored_checkpoint(name, folder):
    restored = read_checkpoint(folder)
    if restored is None:
        log.warning("%s: resume=True, but there is no checkpoint in %s: starting from the beginning", name, folder)
    return restored


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
