#pragma once

#include <cstring>

namespace ravnest::detail {

/// 16 bytes of `T` as one value of GCC's and Clang's vector extensions: SSE2 on x86-64, NEON on ARM, no
/// intrinsics. The passes over every received byte use them with a few accumulators held in registers; loops
/// over small arrays left the compiler storing and reloading the accumulators on every block, which cost more
/// than the kernel's copy of the same bytes.
template <typename T>
struct LanesOf {
  typedef T Type __attribute__((vector_size(16)));
};
template <typename T>
using Lanes = typename LanesOf<T>::Type;

template <typename T>
constexpr int kLaneCount = 16 / sizeof(T);

template <typename T>
Lanes<T> loadLanes(const void* source) {
  Lanes<T> lanes;
  std::memcpy(&lanes, source, sizeof(lanes));
  return lanes;
}

template <typename T>
void storeLanes(void* destination, const Lanes<T>& lanes) {
  std::memcpy(destination, &lanes, sizeof(lanes));
}

/// The OR of every lane.
template <typename T>
T orOfLanes(const Lanes<T>& lanes) {
  T all = 0;
  for (int i = 0; i < kLaneCount<T>; ++i) all |= lanes[i];
  return all;
}

}  // namespace ravnest::detail
