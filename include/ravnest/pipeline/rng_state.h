#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace ravnest {

/// The random-number state a forward pass starts from: the CPU generator's, and the CUDA generator's of the
/// stage's device when it is a GPU. Restoring it makes a recomputed forward draw the same dropout masks.
/// Touches the process-wide default generators: use it from the compute thread only.
class RngState {
 public:
  /// Captures the current state of the generators `device` uses.
  static RngState capture(const c10::Device& device);

  /// Makes the generators continue from this state.
  void restore() const;

 private:
  at::Tensor cpu_;
  at::Tensor cuda_;  // undefined on CPU stages
  c10::Device device_{c10::kCPU};
};

}  // namespace ravnest
