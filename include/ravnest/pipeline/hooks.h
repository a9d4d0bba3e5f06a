#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ravnest/comm/message.h"

namespace ravnest {

/// Where a micro-batch belongs: the training epoch the root was in when it fed it, and (training only) its
/// index within that epoch.
struct MicroBatchInfo {
  uint64_t id = 0;
  int64_t epoch = 0;
  int64_t batch = 0;
};

// User code plugs into a node through these interfaces. The node calls them from its compute thread, one at
// a time, never while holding a lock. An exception thrown by a hook stops the node: the node reports it and
// tells its peers. Python implements them in ravnest._C (the callbacks take the GIL).

/// Updates the stage's parameters from their accumulated gradients.
class OptimizerHook {
 public:
  virtual ~OptimizerHook() = default;
  /// Applies one update (e.g. torch.optim's step()).
  virtual void step() = 0;
  /// Clears the accumulated gradients.
  virtual void zeroGrad() = 0;
  /// The optimizer's state tensors themselves (not copies), named `<parameter>.<state key>`, for averaging
  /// across clusters in place (NodeOptions::optimizerState). An entry the optimizer has not created yet must
  /// be created as it would be, so that every member hands over the same set. Default: none.
  virtual std::vector<NamedTensor> stateTensors() { return {}; }
};

/// Moves the learning rate along its schedule.
class LrSchedulerHook {
 public:
  virtual ~LrSchedulerHook() = default;
  virtual void step() = 0;
};

/// Takes a checkpoint of the node's state. The compute thread calls it right after the backward pass that
/// brought its count to `backwardPasses` (and after that pass's optimizer step and average across clusters),
/// when the root marked that micro-batch for a checkpoint: every stage of the cluster then snapshots after the
/// same micro-batches. It should copy the state and write it elsewhere, since the compute thread waits.
class CheckpointHook {
 public:
  virtual ~CheckpointHook() = default;
  /// `epoch`: the epoch the stage is in.
  virtual void snapshot(int64_t epoch, uint64_t backwardPasses) = 0;
};

/// The leaf's side of training and validation. `modelOutput` holds the values named in the routing's
/// `model_output`, in StageRouting::modelOutputValues order.
class LeafHook {
 public:
  virtual ~LeafHook() = default;
  /// Returns the loss (a scalar with autograd history) of one training micro-batch against its labels.
  virtual at::Tensor loss(const std::vector<NamedTensor>& modelOutput, const MicroBatchInfo& info) = 0;
  /// Scores one validation micro-batch against its labels.
  virtual void evaluateBatch(const std::vector<NamedTensor>& modelOutput, const MicroBatchInfo& info) = 0;
  /// The root finished a validation pass: report its result.
  virtual void endEvaluation() = 0;
};

}  // namespace ravnest
