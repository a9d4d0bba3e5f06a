#pragma once

#include <cstddef>
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace ravnest::detail {

/// Reduces a float32 payload while it arrives: sum[i] = addend[i] + payload[i], checking every payload element
/// for NaN and Inf in the same pass. This replaces copying the payload into a buffer of its own and adding it
/// afterwards, which read and wrote every byte once more. Pieces may split an element; its bytes are held
/// until the rest comes. Not thread-safe: one call's frames arrive in order.
class ArrivalSum {
 public:
  /// `sum` and `addend`: contiguous float32 CPU tensors of the same element count, alive as long as this object.
  ArrivalSum(at::Tensor sum, at::Tensor addend);

  /// Adds the next `size` payload bytes. The caller keeps the total within numel * 4 bytes.
  void append(const uint8_t* data, size_t size);

  /// Whether every element so far was finite. A non-finite one is still added, so `sum` is then garbage.
  bool allFinite() const { return allFinite_; }
  const at::Tensor& sum() const { return sum_; }

 private:
  void addElements(const uint8_t* payload, int64_t count);

  at::Tensor sum_;
  at::Tensor addend_;
  int64_t nextElement_ = 0;
  uint8_t partial_[sizeof(float)] = {};
  size_t partialBytes_ = 0;
  bool allFinite_ = true;
};

}  // namespace ravnest::detail
