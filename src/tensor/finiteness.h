#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace ravnest::detail {

/// Bytes per element when finiteness of `dtype` can be read from raw bytes (float32, float64); 0 otherwise.
int64_t rawFiniteCheckElementSize(at::ScalarType dtype);

/// Whether the `count` elements of `dtype` at `data` are all finite (no NaN, no Inf). `dtype` must have a
/// non-zero rawFiniteCheckElementSize(). Reads the exponent bits with integer operations only, so it
/// vectorises and allocates nothing: it runs on every received byte.
bool rawFloatsAllFinite(const void* data, int64_t count, at::ScalarType dtype);

/// Whether every element of `tensor` is finite; true for non-floating tensors.
bool allFinite(const at::Tensor& tensor);

}  // namespace ravnest::detail
