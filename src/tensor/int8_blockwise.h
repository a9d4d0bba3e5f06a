#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace ravnest::detail {

/// Int8 blockwise quantisation. The flattened tensor is cut into blocks of `blockSize` elements (the last
/// one padded for the arithmetic only). Each block keeps scale = absmax / 127 as float32 and its values as
/// round(x / scale) clamped to [-127, 127]. Wire layout: all scales (float32, little-endian), then all
/// int8 values, numel of them, unpadded.
at::Tensor quantizeInt8Blockwise(const at::Tensor& tensor, int64_t blockSize);

/// Inverse of quantizeInt8Blockwise for `numel` values; returns a flat float32 tensor.
at::Tensor dequantizeInt8Blockwise(const at::Tensor& bytes, int64_t numel, int64_t blockSize);

/// Number of blocks that `numel` values occupy.
int64_t int8BlockCount(int64_t numel, int64_t blockSize);

}  // namespace ravnest::detail
