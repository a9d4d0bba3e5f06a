#pragma once

#include <cstdint>
#include <vector>

namespace ravnest::detail {

/// How one ring's flattened range is cut: R chunks of near-equal size (the first numel % R chunks hold one
/// element more; chunks may be empty when the range has fewer elements than R), each sent in segments of at
/// most `segmentElements`. An empty chunk still travels as one empty segment, so every step exchanges a message.
struct RingLayout {
  RingLayout(std::vector<int64_t> tensorNumels, int ringSize, int64_t segmentElements);

  int64_t chunkBegin(int chunk) const { return chunkOffsets[chunk]; }
  int64_t chunkSize(int chunk) const { return chunkOffsets[chunk + 1] - chunkOffsets[chunk]; }
  int64_t segmentCount(int chunk) const;
  int64_t segmentBegin(int chunk, int64_t segment) const;
  int64_t segmentSize(int chunk, int64_t segment) const;

  std::vector<int64_t> tensorNumels;
  int64_t numel = 0;
  int64_t segmentElements;
  std::vector<int64_t> chunkOffsets;  // R + 1 entries
};

/// The chunk a member of rank `rank` sends at `step` of `phase` (0 reduce-scatter, 1 all-gather) in a ring of
/// `ringSize`; it receives the chunk its previous member sends, i.e. sentChunk(rank - 1, ...).
int sentChunk(int rank, int ringSize, int phase, int step);

}  // namespace ravnest::detail
