#include "comm/arrival_sum.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include <ATen/ATen.h>

#include "ravnest/common/error.h"
#include "tensor/finiteness.h"
#include "tensor/vector_lanes.h"

namespace ravnest::detail {

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
  constexpr int64_t kLanes = kLaneCount<float>;
  Lanes<uint32_t> carries0{}, carries1{};
  int64_t i = 0;
  for (; i + 2 * kLanes <= count; i += 2 * kLanes) {
    const uint8_t* received = payload + i * sizeof(float);
    carries0 |= nonFiniteCarry<uint32_t>(loadLanes<uint32_t>(received));
    carries1 |= nonFiniteCarry<uint32_t>(loadLanes<uint32_t>(received + 16));
    storeLanes<float>(sum + i, loadLanes<float>(addend + i) + loadLanes<float>(received));
    storeLanes<float>(sum + i + kLanes, loadLanes<float>(addend + i + kLanes) + loadLanes<float>(received + 16));
  }
  uint32_t all = orOfLanes<uint32_t>(carries0 | carries1);
  for (; i < count; ++i) {
    uint32_t bits;
    float received;
    std::memcpy(&bits, payload + i * sizeof(float), sizeof(bits));
    std::memcpy(&received, &bits, sizeof(received));
    all |= nonFiniteCarry<uint32_t>(bits);
    sum[i] = addend[i] + received;
  }
  if (carriesShowNonFinite(all)) allFinite_ = false;
  nextElement_ += count;
}

}  // namespace ravnest::detail
