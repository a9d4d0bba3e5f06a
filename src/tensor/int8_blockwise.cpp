#include "tensor/int8_blockwise.h"

#include <ATen/ATen.h>

namespace ravnest::detail {

int64_t int8BlockCount(int64_t numel, int64_t blockSize) {
  return (numel + blockSize - 1) / blockSize;
}

at::Tensor quantizeInt8Blockwise(const at::Tensor& tensor, int64_t blockSize) {
  const at::Tensor flat = tensor.reshape({-1}).to(at::kFloat);
  const int64_t numel = flat.numel();
  const int64_t blocks = int8BlockCount(numel, blockSize);
  const at::Tensor padded = at::constant_pad_nd(flat, {0, blocks * blockSize - numel});
  const at::Tensor rows = padded.view({blocks, blockSize});
  const at::Tensor scales = rows.abs().amax(1).div(127.0);
  // An all-zero block has scale 0; dividing by 1 instead keeps its values exactly 0.
  const at::Tensor divisor = at::where(scales > 0, scales, at::ones_like(scales));
  const at::Tensor quantized =
      rows.div(divisor.unsqueeze(1)).round().clamp(-127, 127).to(at::kChar).reshape({-1}).slice(0, 0, numel);
  return at::cat({scales.contiguous().view(at::kByte), quantized.contiguous().view(at::kByte)});
}

at::Tensor dequantizeInt8Blockwise(const at::Tensor& bytes, int64_t numel, int64_t blockSize) {
  const int64_t blocks = int8BlockCount(numel, blockSize);
  const int64_t scaleBytes = blocks * static_cast<int64_t>(sizeof(float));
  const at::Tensor scales = bytes.slice(0, 0, scaleBytes).view(at::kFloat);
  const at::Tensor values = bytes.slice(0, scaleBytes, scaleBytes + numel).view(at::kChar).to(at::kFloat);
  const at::Tensor padded = at::constant_pad_nd(values, {0, blocks * blockSize - numel});
  return padded.view({blocks, blockSize}).mul(scales.unsqueeze(1)).reshape({-1}).slice(0, 0, numel);
}

}  // namespace ravnest::detail
