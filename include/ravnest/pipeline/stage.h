#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "ravnest/pipeline/rng_state.h"
#include "ravnest/pipeline/weight_stash.h"

namespace torch::jit {
struct Module;
}

namespace ravnest {
namespace detail {
class ModuleSlots;
}

/// How a stage keeps what its backward passes need.
struct StageOptions {
  /// true: a forward pass to be back-propagated later runs under no-grad and keeps only its inputs; the
  /// backward pass recomputes it with autograd. false: it keeps its autograd graph (faster, more memory: the
  /// activations of every micro-batch in flight).
  bool recompute = true;
  /// Splits backward passes into B and a W run later (backwardWeights), for the zero-bubble schedule.
  bool deferWeightGradients = false;
};

/// One pipeline stage: the TorchScript submodule and what its backward passes need.
///
/// Every micro-batch keeps the weight version its forward pass used (WeightStash), and its backward pass
/// computes with exactly those weights: the module's parameters are swapped for leaves holding that version,
/// so that gradients computed while the optimizer updates the live weights still belong to the forward's
/// weights, then they are added to the live parameters' `.grad`. A forward pass whose graph outlives the next
/// update (kept graphs, deferred W) works on a frozen copy of its version.
///
/// BatchNorm running statistics are updated once per micro-batch, by its first forward pass: a recomputation
/// works on copies it discards, and a kept graph on copies that are written back after the pass, so that
/// later passes never change what a kept graph saved.
///
/// Not thread-safe: the node's compute thread owns it.
class Stage {
 public:
  /// The result of a forward pass with autograd: the inputs as the graph saw them and the outputs.
  struct Pass {
    std::vector<at::Tensor> inputs;
    std::vector<at::Tensor> outputs;
  };

  /// Loads the TorchScript stage at `path` onto `device`, in training mode. `inputRequiresGrad[i]` says
  /// whether argument i gets a gradient. Throws ConfigError when the file cannot be loaded.
  Stage(const std::string& path, std::vector<bool> inputRequiresGrad, c10::Device device,
        StageOptions options = {});
  ~Stage();
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;

  /// Forward pass of training micro-batch `id` with the current weights, keeping what its backward pass
  /// needs. Returns the outputs in the stage's tuple order. Throws InvalidArgumentError when `id` already has
  /// a pending backward pass.
  std::vector<at::Tensor> forwardStashed(uint64_t id, std::vector<at::Tensor> inputs);
  /// Forward pass of training micro-batch `id` with autograd, for a loss computed from its outputs (the last
  /// stage). Each floating input flagged at construction is a leaf that requires grad. Throws like
  /// forwardStashed().
  Pass forwardForLoss(uint64_t id, std::vector<at::Tensor> inputs);

  /// B of micro-batch `id`: back-propagates `outputGrads` (one per output; undefined where the output gets no
  /// gradient) and returns the gradient of each input (undefined where there is none). Without
  /// deferWeightGradients the weight gradients are computed too and the micro-batch is done; with it,
  /// backwardWeights(id) must follow. Throws InvalidArgumentError for an unknown id or a second B.
  std::vector<at::Tensor> backwardInputs(uint64_t id, const std::vector<at::Tensor>& outputGrads);
  /// B of a micro-batch that went through forwardForLoss(): back-propagates `loss` (a scalar computed from
  /// the pass's outputs and `extraLeaves`) and returns the gradients of the pass's inputs, then of
  /// `extraLeaves`. Otherwise like backwardInputs().
  std::vector<at::Tensor> backwardInputsFromLoss(uint64_t id, const at::Tensor& loss,
                                                 const std::vector<at::Tensor>& extraLeaves);
  /// W of micro-batch `id` (deferWeightGradients only): accumulates its weight gradients into the live
  /// parameters' `.grad` and frees what the micro-batch held. Throws InvalidArgumentError when `id` has not
  /// run B.
  void backwardWeights(uint64_t id);

  /// One throwaway training pass on `inputs`: the forward pass this stage's mode runs first (no-grad when it
  /// recomputes), then a forward pass with autograd and its backward pass from the sum of the outputs. The
  /// first calls of a process pay one-time costs (kernel selection and code generation, TorchScript's first
  /// runs, the allocator's growth) that would otherwise hold up the first micro-batch on every stage in turn.
  /// Leaves the weights, their gradients, the buffers and the random-number state as they were. Throws what
  /// the module throws (the stage is then unchanged too).
  void warmUp(const std::vector<at::Tensor>& inputs);

  /// Forward pass in evaluation mode under no-grad (dropout off, BatchNorm on running statistics).
  std::vector<at::Tensor> evaluate(const std::vector<at::Tensor>& inputs);

  std::vector<at::Tensor> parameters() const;
  std::vector<std::pair<std::string, at::Tensor>> namedParameters() const;
  std::vector<std::pair<std::string, at::Tensor>> namedBuffers() const;
  const c10::Device& device() const { return device_; }
  const StageOptions& options() const { return options_; }
  /// Micro-batches between their forward pass and the end of their backward pass (W included).
  size_t pendingBackwards() const { return pending_.size(); }
  const WeightStash& weightStash() const { return stash_; }
  /// The optimizer hook must call this right before it changes the weights.
  void beforeUpdate() { stash_.beforeUpdate(); }

 private:
  struct Graph {
    Pass pass;
    std::vector<at::Tensor> weights;  // the leaves standing in for the parameters
  };
  struct Pending;

  Pending& pendingOf(uint64_t id);
  Pending& startPending(uint64_t id, std::vector<at::Tensor> inputs);
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs);
  std::vector<at::Tensor> toDevice(std::vector<at::Tensor> inputs) const;
  Graph forwardWithGraph(const std::vector<at::Tensor>& inputs, uint64_t version, bool frozen,
                         bool keepStatistics);
  std::vector<at::Tensor> backwardFrom(uint64_t id, Pending& pending, const std::vector<at::Tensor>& roots,
                                       const std::vector<at::Tensor>& rootGrads,
                                       const std::vector<at::Tensor>& inputs);
  void finish(uint64_t id);

  std::unique_ptr<torch::jit::Module> module_;
  std::unique_ptr<detail::ModuleSlots> slots_;
  std::vector<bool> inputRequiresGrad_;
  c10::Device device_;
  StageOptions options_;
  WeightStash stash_;
  std::map<uint64_t, std::unique_ptr<Pending>> pending_;
};

}  // namespace ravnest
