"""Turns a stage GraphModule into a TorchScript module that C++ can load."""

import copy
import logging
import warnings

import torch

log = logging.getLogger("ravnest.clusterize")


def export_stage(stage, example_inputs):
    """Returns `stage.module` as TorchScript, in train mode.

    Prefers torch.jit.script, which keeps control flow and train/eval behaviour. When scripting fails it
    falls back to torch.jit.trace on `example_inputs` in train mode, and logs why: a traced stage
    follows the traced path whatever its inputs and mode.
    """
    try:
        with warnings.catch_warnings():
            # Scripting any GraphModule warns about fx's own bookkeeping attributes; nothing to act on.
            warnings.filterwarnings("ignore", message="The TorchScript type system doesn't support instance-level")
            scripted = torch.jit.script(stage.module)
    except Exception as error:
        log.info("stage %d: torch.jit.script failed (%s: %s); falling back to torch.jit.trace, which fixes "
                 "data-dependent control flow and train/eval-dependent behaviour to the traced path",
                 stage.index, type(error).__name__, str(error).splitlines()[0] if str(error) else "")
        # Tracing runs the stage; a copy keeps BatchNorm statistics of the user's model untouched.
        module = copy.deepcopy(stage.module).train()
        with torch.no_grad():
            scripted = torch.jit.trace(module, tuple(example_inputs), check_trace=False)
    return scripted.train()
