#include "tensor/int8_blockwise.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ravnest::detail {
namespace {

// Blocks handed to one worker thread at a time.
constexpr int64_t kBlocksPerTask = 64;

/// Device-side quantisation with tensor operations, so CUDA tensors shrink before they cross PCIe.
at::Tensor quantizeWithTensorOps(const at::Tensor& tensor, int64_t blockSize) {
  const at::Tensor flat = tensor.reshape({-1}).to(at::kFloat);
  const int64_t numel = flat.numel();
  const int64_t blocks = int8BlockCount(numel, blockSize);
  const at::Tensor rows = at::constant_pad_nd(flat, {0, blocks * blockSize - numel}).view({blocks, blockSize});
  const at::Tensor scales = rows.abs().amax(1).div(127.0);
  // An all-zero block has scale 0; dividing by 1 instead keeps its values exactly 0.
  const at::Tensor divisor = at::where(scales > 0, scales, at::ones_like(scales));
  const at::Tensor quantized =
      rows.div(divisor.unsqueeze(1)).round().clamp(-127, 127).to(at::kChar).reshape({-1}).slice(0, 0, numel);
  return at::cat({scales.contiguous().view(at::kByte), quantized.contiguous().view(at::kByte)});
}

}  // namespace

int64_t int8BlockCount(int64_t numel, int64_t blockSize) {
  return (numel + blockSize - 1) / blockSize;
}

at::Tensor quantizeInt8Blockwise(const at::Tensor& tensor, int64_t blockSize) {
  if (!tensor.is_cpu()) return quantizeWithTensorOps(tensor, blockSize);
  // On the CPU one fused pass per block beats the dozen full passes the tensor operations make.
  const at::Tensor flat = tensor.reshape({-1}).to(at::kFloat).contiguous();
  const int64_t numel = flat.numel();
  const int64_t blocks = int8BlockCount(numel, blockSize);
  at::Tensor bytes = at::empty({blocks * static_cast<int64_t>(sizeof(float)) + numel}, at::kByte);
  const float* values = flat.data_ptr<float>();
  auto* scales = reinterpret_cast<float*>(bytes.data_ptr<uint8_t>());
  auto* quantized = reinterpret_cast<int8_t*>(bytes.data_ptr<uint8_t>() + blocks * sizeof(float));
  at::parallel_for(0, blocks, kBlocksPerTask, [&](int64_t firstBlock, int64_t endBlock) {
    for (int64_t block = firstBlock; block < endBlock; ++block) {
      const int64_t begin = block * blockSize;
      const int64_t end = std::min(numel, begin + blockSize);
      float absmax = 0.0f;
      for (int64_t i = begin; i < end; ++i) absmax = std::max(absmax, std::fabs(values[i]));
      const float scale = absmax / 127.0f;
      scales[block] = scale;
      const float divisor = scale > 0.0f ? scale : 1.0f;
      for (int64_t i = begin; i < end; ++i) {
        quantized[i] = static_cast<int8_t>(std::clamp(std::nearbyint(values[i] / divisor), -127.0f, 127.0f));
      }
    }
  });
  return bytes;
}

at::Tensor dequantizeInt8Blockwise(const at::Tensor& bytes, int64_t numel, int64_t blockSize) {
  const int64_t blocks = int8BlockCount(numel, blockSize);
  const at::Tensor contiguous = bytes.contiguous();
  at::Tensor values = at::empty({numel}, at::kFloat);
  const uint8_t* raw = contiguous.data_ptr<uint8_t>();
  const auto* quantized = reinterpret_cast<const int8_t*>(raw + blocks * sizeof(float));
  float* out = values.data_ptr<float>();
  at::parallel_for(0, blocks, kBlocksPerTask, [&](int64_t firstBlock, int64_t endBlock) {
    for (int64_t block = firstBlock; block < endBlock; ++block) {
      float scale;
      std::memcpy(&scale, raw + block * sizeof(float), sizeof(float));  // the payload may sit at any offset
      const int64_t end = std::min(numel, (block + 1) * blockSize);
      for (int64_t i = block * blockSize; i < end; ++i) out[i] = static_cast<float>(quantized[i]) * scale;
    }
  });
  return values;
}

}  // namespace ravnest::detail
