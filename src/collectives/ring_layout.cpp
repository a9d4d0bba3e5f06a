#include "collectives/ring_layout.h"

#include <algorithm>
#include <numeric>

namespace ravnest::detail {

RingLayout::RingLayout(std::vector<int64_t> numels, int ringSize, int64_t segmentSizeElements)
    : tensorNumels(std::move(numels)), segmentElements(std::max<int64_t>(1, segmentSizeElements)) {
  numel = std::accumulate(tensorNumels.begin(), tensorNumels.end(), int64_t{0});
  chunkOffsets.push_back(0);
  for (int chunk = 0; chunk < ringSize; ++chunk) {
    const int64_t size = numel / ringSize + (chunk < numel % ringSize ? 1 : 0);
    chunkOffsets.push_back(chunkOffsets.back() + size);
  }
}

int64_t RingLayout::segmentCount(int chunk) const {
  return std::max<int64_t>(1, (chunkSize(chunk) + segmentElements - 1) / segmentElements);
}

int64_t RingLayout::segmentBegin(int chunk, int64_t segment) const {
  return chunkBegin(chunk) + segment * segmentElements;
}

int64_t RingLayout::segmentSize(int chunk, int64_t segment) const {
  return std::min(segmentElements, chunkSize(chunk) - segment * segmentElements);
}

int sentChunk(int rank, int ringSize, int phase, int step) {
  // Reduce-scatter sends chunk rank - step; all-gather starts from the chunk reduce-scatter left complete
  // here, rank + 1, and forwards what it received the step before.
  const int chunk = phase == 0 ? rank - step : rank + 1 - step;
  return ((chunk % ringSize) + ringSize) % ringSize;
}

}  // namespace ravnest::detail
