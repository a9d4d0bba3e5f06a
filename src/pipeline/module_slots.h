#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/csrc/jit/api/module.h>

namespace ravnest::detail {

/// The attribute slots of a TorchScript module (its submodules included) that hold its parameters and its
/// buffers, so that a forward pass can run on other tensors: a frozen weight version, or private copies of
/// the BatchNorm statistics that later passes update in place. The module's code reads its attributes at
/// every call, so swapping the slots swaps what the pass uses, and the autograd graph it leaves behind keeps
/// the substitutes, not the live tensors. A tensor held by several slots (tied weights) is one entry.
class ModuleSlots {
 public:
  explicit ModuleSlots(const torch::jit::Module& module);

  /// The distinct live parameters and buffers, in the order the substitutes must follow.
  const std::vector<at::Tensor>& parameters() const { return parameters_; }
  const std::vector<at::Tensor>& buffers() const { return buffers_; }

  /// Runs `body` with parameter i replaced by `parameters[i]` and buffer i by `buffers[i]` in every slot that
  /// holds it, then puts the live tensors back, also when `body` throws.
  void withSubstitutes(const std::vector<at::Tensor>& parameters, const std::vector<at::Tensor>& buffers,
                       const std::function<void()>& body);

 private:
  struct Slot {
    torch::jit::Module owner;
    std::string name;
    bool isParameter;
    size_t index;  // into parameters_ or buffers_
  };

  void set(const std::vector<at::Tensor>& parameters, const std::vector<at::Tensor>& buffers);

  std::vector<Slot> slots_;
  std::vector<at::Tensor> parameters_;
  std::vector<at::Tensor> buffers_;
};

}  // namespace ravnest::detail
