#include "comm/arrival_sum.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include <ATen/ATen.h>

#include "ravnest/common/error.h"
#include "tensor/finiteness.h"

namespace ravnest::detail {
namespace {

/// Elements per block: a fixed trip count the compiler turns into vector code at -O2.
constexpr int64_t kBlock = 16;

}  // namespace

ArrivalSum::ArrivalSum(at::Tensor sum, at::Tensor addend) : sum_(std::move(sum)), addend_(std::move(addend)) {
  RAVNEST_CHECK(sum_.scalar_type() == at::kFloat && addend_.scalar_type() == at::kFloat && sum_.is_cpu() &&
                    addend_.is_cpu() && sum_.is_contiguous() && addend_.is_contiguous() &&
                    sum_.numel() == addend_.numel(),
                "arrival sum: needs contiguous float32 CPU tensors of one size");
}

void ArrivalSum::append(const uint8_t* data, size_t size) {
  if (partialBytes_ > 0) {
    const size_t length = std::min(size, sizeof(float) - partialBytes_);
    std::memcpy(partial_ + partialBytes_, data, length);
    partialBytes_ += length;
    data += length;
    size -= length;
    if (partialBytes_ < sizeof(float)) return;
    addElements(partial_, 1);
    partialBytes_ = 0;
  }
  const int64_t whole = static_cast<int64_t>(size / sizeof(float));
  addElements(data, whole);
  partialBytes_ = size - static_cast<size_t>(whole) * sizeof(float);
  std::memcpy(partial_, data + whole * sizeof(float), partialBytes_);
}

void ArrivalSum::addElements(const uint8_t* payload, int64_t count) {
  RAVNEST_CHECK(nextElement_ + count <= sum_.numel(), "arrival sum: more elements than the ", sum_.numel(), " expected");
  float* sum = sum_.data_ptr<float>() + nextElement_;
  const float* addend = addend_.data_ptr<float>() + nextElement_;
  uint32_t carries[kBlock] = {};
  int64_t i = 0;
  for (; i + kBlock <= count; i += kBlock) {
    // Local copies tell the compiler that payload, addend and sum do not overlap within a block.
    uint32_t bits[kBlock];
    float received[kBlock];
    float total[kBlock];
    std::memcpy(bits, payload + i * sizeof(float), sizeof(bits));
    std::memcpy(received, bits, sizeof(received));
    std::memcpy(total, addend + i, sizeof(total));
    for (int64_t j = 0; j < kBlock; ++j) {
      carries[j] |= nonFiniteCarry(bits[j]);
      total[j] += received[j];
    }
    std::memcpy(sum + i, total, sizeof(total));
  }
  for (; i < count; ++i) {
    uint32_t bits;
    float received;
    std::memcpy(&bits, payload + i * sizeof(float), sizeof(bits));
    std::memcpy(&received, &bits, sizeof(received));
    carries[0] |= nonFiniteCarry(bits);
    sum[i] = addend[i] + received;
  }
  uint32_t all = 0;
  for (const uint32_t carry : carries) all |= carry;
  if (carriesShowNonFinite(all)) allFinite_ = false;
  nextElement_ += count;
}

}  // namespace ravnest::detail
