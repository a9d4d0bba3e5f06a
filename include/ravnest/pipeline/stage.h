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

/// One pipeline stage: the TorchScript submodule and what its backward passes need.
///
/// A forward pass that will be back-propagated later (forwardStashed) runs under no-grad and keeps only the
/// inputs, the weight version and the RNG state. The backward pass swaps that weight version in, restores
/// the RNG state and recomputes the forward with autograd, leaving BatchNorm running statistics as the first
/// forward left them (each micro-batch updates them once), then back-propagates. Stages that back-propagate
/// at once (the leaf) use forwardWithGrad on the current weights.
///
/// Not thread-safe: the node's compute thread owns it.
class Stage {
 public:
  /// The result of a forward pass with autograd: the inputs as the graph saw them (read their `.grad` after
  /// backward) and the outputs.
  struct Pass {
    std::vector<at::Tensor> inputs;
    std::vector<at::Tensor> outputs;
  };

  /// Loads the TorchScript stage at `path` onto `device`, in training mode. `inputRequiresGrad[i]` says
  /// whether argument i gets a gradient. Throws ConfigError when the file cannot be loaded.
  Stage(const std::string& path, std::vector<bool> inputRequiresGrad, c10::Device device);
  ~Stage();
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;

  /// Forward pass of training micro-batch `id` under no-grad with the current weights; keeps what
  /// backward(id) needs. Returns the outputs in the stage's tuple order. Throws InvalidArgumentError when
  /// `id` already has a pending backward pass.
  std::vector<at::Tensor> forwardStashed(uint64_t id, std::vector<at::Tensor> inputs);

  /// Backward pass of micro-batch `id`: recomputes its forward with the weights and RNG state it used, then
  /// back-propagates `outputGrads` (one per output; undefined where the output gets no gradient). Returns
  /// the gradient of each input (undefined where there is none) and frees what the micro-batch held.
  /// Throws InvalidArgumentError for an unknown id.
  std::vector<at::Tensor> backward(uint64_t id, const std::vector<at::Tensor>& outputGrads);

  /// Forward pass with autograd on the current weights (training mode). Each floating input flagged at
  /// construction becomes a leaf that requires grad.
  Pass forwardWithGrad(const std::vector<at::Tensor>& inputs);

  /// Forward pass in evaluation mode under no-grad (dropout off, BatchNorm on running statistics).
  std::vector<at::Tensor> evaluate(const std::vector<at::Tensor>& inputs);

  std::vector<at::Tensor> parameters() const;
  std::vector<std::pair<std::string, at::Tensor>> namedParameters() const;
  std::vector<std::pair<std::string, at::Tensor>> namedBuffers() const;
  const c10::Device& device() const { return device_; }
  size_t pendingBackwards() const { return pending_.size(); }
  const WeightStash& weightStash() const { return stash_; }
  /// The optimizer hook must call this right before it changes the weights.
  void beforeUpdate() { stash_.beforeUpdate(); }

 private:
  struct Pending {
    std::vector<at::Tensor> inputs;
    uint64_t version = 0;
    RngState rng;
  };

  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs);
  std::vector<at::Tensor> toDevice(std::vector<at::Tensor> inputs) const;

  std::unique_ptr<torch::jit::Module> module_;
  std::vector<bool> inputRequiresGrad_;
  c10::Device device_;
  WeightStash stash_;
  std::map<uint64_t, Pending> pending_;
};

}  // namespace ravnest
