#include "tensor/finiteness.h"

#include <ATen/ATen.h>

#include <cstring>

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

/// True when no element has all exponent bits set (see nonFiniteCarry).
template <typename Bits>
bool exponentsAllFinite(const void* data, int64_t count) {
  constexpr int64_t kBlock = 64 / sizeof(Bits);
  const auto* bytes = static_cast<const unsigned char*>(data);
  Bits carries[kBlock] = {};
  int64_t i = 0;
  for (; i + kBlock <= count; i += kBlock) {
    Bits block[kBlock];
    std::memcpy(block, bytes + i * sizeof(Bits), sizeof(block));
    for (int64_t j = 0; j < kBlock; ++j) carries[j] |= nonFiniteCarry(block[j]);
  }
  for (; i < count; ++i) {
    Bits bits;
    std::memcpy(&bits, bytes + i * sizeof(Bits), sizeof(Bits));
    carries[0] |= nonFiniteCarry(bits);
  }
  Bits all = 0;
  for (const Bits carry : carries) all |= carry;
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
