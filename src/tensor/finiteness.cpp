#include "tensor/finiteness.h"

#include <ATen/ATen.h>

#include <cstring>

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

/// True when no element has all exponent bits set, the IEEE encoding of Inf and NaN. With the sign bit cleared,
/// adding the exponent's lowest bit carries into the sign bit exactly for those, so OR-ing the sums of all
/// elements and testing the sign bit once decides. Adds, ands and ors over blocks of a fixed trip count are
/// what the compiler turns into vector code at -O2 (a loop of compares over `count` stayed scalar there and
/// cost as much as copying the bytes).
template <typename Bits>
bool exponentsAllFinite(const void* data, int64_t count, Bits lowestExponentBit) {
  constexpr Bits kSignBit = static_cast<Bits>(Bits{1} << (8 * sizeof(Bits) - 1));
  constexpr int64_t kBlock = 64 / sizeof(Bits);
  const auto* bytes = static_cast<const unsigned char*>(data);
  Bits carries[kBlock] = {};
  int64_t i = 0;
  for (; i + kBlock <= count; i += kBlock) {
    Bits block[kBlock];
    std::memcpy(block, bytes + i * sizeof(Bits), sizeof(block));
    for (int64_t j = 0; j < kBlock; ++j) carries[j] |= (block[j] & ~kSignBit) + lowestExponentBit;
  }
  for (; i < count; ++i) {
    Bits bits;
    std::memcpy(&bits, bytes + i * sizeof(Bits), sizeof(Bits));
    carries[0] |= (bits & ~kSignBit) + lowestExponentBit;
  }
  Bits all = 0;
  for (const Bits carry : carries) all |= carry;
  return (all & kSignBit) == 0;
}

}  // namespace

int64_t rawFiniteCheckElementSize(at::ScalarType dtype) {
  if (dtype == at::kFloat) return sizeof(uint32_t);
  if (dtype == at::kDouble) return sizeof(uint64_t);
  return 0;
}

bool rawFloatsAllFinite(const void* data, int64_t count, at::ScalarType dtype) {
  if (dtype == at::kFloat) return exponentsAllFinite<uint32_t>(data, count, 0x00800000u);
  RAVNEST_CHECK(dtype == at::kDouble, "finiteness: raw bytes of ", dtype, " cannot be checked");
  return exponentsAllFinite<uint64_t>(data, count, 0x0010000000000000ull);
}

bool allFinite(const at::Tensor& tensor) {
  if (!at::isFloatingType(tensor.scalar_type())) return true;
  if (tensor.is_cpu() && tensor.is_contiguous() && rawFiniteCheckElementSize(tensor.scalar_type()) > 0) {
    return rawFloatsAllFinite(tensor.data_ptr(), tensor.numel(), tensor.scalar_type());
  }
  return at::isfinite(tensor).all().item<bool>();
}

}  // namespace ravnest::detail
