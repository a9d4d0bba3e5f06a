#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace ravnest::detail {

/// The exponent test of every pass over received floats (`Bits`: uint32_t for float32, uint64_t for float64).
/// With the sign bit cleared, adding the exponent's lowest bit carries into the sign bit exactly when all
/// exponent bits are set, the IEEE encoding of Inf and NaN. A pass ORs the carries of its elements and asks
/// carriesShowNonFinite() once. Adds, ands and ors work on vector lanes (vector_lanes.h), where a loop of
/// compares stayed scalar and cost as much as copying the bytes.
template <typename Bits>
constexpr Bits kSignBit = static_cast<Bits>(Bits{1} << (8 * sizeof(Bits) - 1));

template <typename Bits>
constexpr Bits kLowestExponentBit = sizeof(Bits) == 4 ? Bits{0x00800000u} : static_cast<Bits>(0x0010000000000000ull);

/// The carry of one element (`Value` = `Bits`) or of every lane of a vector of them (`Value` = Lanes<Bits>).
template <typename Bits, typename Value = Bits>
constexpr Value nonFiniteCarry(Value bits) {
  static_assert(sizeof(Bits) == 4 || sizeof(Bits) == 8, "float32 or float64 bits");
  return (bits & ~kSignBit<Bits>) + kLowestExponentBit<Bits>;
}

template <typename Bits>
constexpr bool carriesShowNonFinite(Bits carries) {
  return (carries & kSignBit<Bits>) != 0;
}

/// Bytes per element when finiteness of `dtype` can be read from raw bytes (float32, float64); 0 otherwise.
int64_t rawFiniteCheckElementSize(at::ScalarType dtype);

/// Whether the `count` elements of `dtype` at `data` are all finite (no NaN, no Inf). `dtype` must have a
/// non-zero rawFiniteCheckElementSize(). Reads the exponent bits with integer operations only, so it
/// vectorises and allocates nothing: it runs on every received byte.
bool rawFloatsAllFinite(const void* data, int64_t count, at::ScalarType dtype);

/// Elements of float32 that checkedBlocks checks at a time: 8 KiB, which stay in the first-level cache between
/// the check and the pass that uses them.
constexpr int64_t kCheckedFloats = 2048;

/// Checks the `count` float32 values at `source` block by block and calls `use(first, size)` on each block
/// found finite, before checking the next. Returns false at the first block holding NaN or Inf, which is not used.
template <typename Use>
bool checkedBlocks(const void* source, int64_t count, Use use) {
  const auto* bytes = static_cast<const unsigned char*>(source);
  for (int64_t first = 0; first < count; first += kCheckedFloats) {
    const int64_t size = count - first < kCheckedFloats ? count - first : kCheckedFloats;
    if (!rawFloatsAllFinite(bytes + first * 4, size, at::kFloat)) return false;
    use(first, size);
  }
  return true;
}

/// Whether every element of `tensor` is finite; true for non-floating tensors.
bool allFinite(const at::Tensor& tensor);

}  // namespace ravnest::detail
