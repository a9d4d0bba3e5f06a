#include "tensor/finiteness.h"

#include <ATen/ATen.h>

#include <cstring>

#include "ravnest/common/error.h"
#include "tensor/vector_lanes.h"

namespace ravnest::detail {
namespace {

/// True when no element has all exponent bits set (see nonFiniteCarry).
template <typename Bits>
bool exponentsAllFinite(const void* data, int64_t count) {
  constexpr int64_t kLanes = kLaneCount<Bits>;
  const auto* bytes = static_cast<const unsigned char*>(data);
  // Four independent accumulators keep the vector units busy; each block is 64 bytes.
  Lanes<Bits> carries0{}, carries1{}, carries2{}, carries3{};
  int64_t i = 0;
  for (; i + 4 * kLanes <= count; i += 4 * kLanes) {
    const unsigned char* block = bytes + i * sizeof(Bits);
    carries0 |= nonFiniteCarry<Bits>(loadLanes<Bits>(block));
    carries1 |= nonFiniteCarry<Bits>(loadLanes<Bits>(block + 16));
    carries2 |= nonFiniteCarry<Bits>(loadLanes<Bits>(block + 32));
    carries3 |= nonFiniteCarry<Bits>(loadLanes<Bits>(block + 48));
  }
  Bits all = orOfLanes<Bits>(carries0 | carries1 | carries2 | carries3);
  for (; i < count; ++i) {
    Bits bits;
    std::memcpy(&bits, bytes + i * sizeof(Bits), sizeof(Bits));
    all |= nonFiniteCarry<Bits>(bits);
  }
  return !carriesShowNonFinite(all);
}

}  // namespace

int64_t rawFiniteCheckElementSize(at::ScalarType dtype) {
  if (dtype == at::kFloat) return sizeof(uint32_t);
  if (dtype == at::kDouble) return sizeof(uint64_t);
  return 0;
}

bool rawFloatsAllFinite(const void* data, int64_t count, at::ScalarType dtype) {
  if (dtype == at::kFloat) return exponentsAllFinite<uint32_t>(data, count);
  RAVNEST_CHECK(dtype == at::kDouble, "finiteness: raw bytes of ", dtype, " cannot be checked");
  return exponentsAllFinite<uint64_t>(data, count);
}

bool allFinite(const at::Tensor& tensor) {
  if (!at::isFloatingType(tensor.scalar_type())) return true;
  if (tensor.is_cpu() && tensor.is_contiguous() && rawFiniteCheckElementSize(tensor.scalar_type()) > 0) {
    return rawFloatsAllFinite(tensor.data_ptr(), tensor.numel(), tensor.scalar_type());
  }
  return at::isfinite(tensor).all().item<bool>();
}

}  // namespace ravnest::detail
