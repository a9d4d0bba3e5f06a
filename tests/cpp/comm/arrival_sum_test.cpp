// ArrivalSum: the payload of a ring segment added into its destination while it arrives.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <vector>

#include "comm/arrival_sum.h"

namespace ravnest::detail {
namespace {

/// Feeds `payload`'s bytes to `sum` in pieces of the given sizes (the last piece takes the rest).
void feedInPieces(ArrivalSum& sum, const at::Tensor& payload, const std::vector<size_t>& pieces) {
  const auto* bytes = static_cast<const uint8_t*>(payload.data_ptr());
  const size_t total = static_cast<size_t>(payload.numel()) * sizeof(float);
  size_t offset = 0;
  for (size_t piece : pieces) {
    sum.append(bytes + offset, piece);
    offset += piece;
  }
  sum.append(bytes + offset, total - offset);
}

TEST(ArrivalSumTest, PiecesThatSplitElementsAddUpExactly) {
  const at::Tensor addend = at::randn({1000});
  const at::Tensor payload = at::randn({1000});
  ArrivalSum sum(at::empty({1000}), addend);
  // Piece sizes that cut elements at every byte offset, and blocks longer than the vector block.
  feedInPieces(sum, payload, {1, 2, 3, 5, 7, 64, 65, 130, 1021});
  EXPECT_TRUE(sum.allFinite());
  EXPECT_TRUE(at::equal(sum.sum(), addend + payload));
}

TEST(ArrivalSumTest, NanAndInfAreFoundInBlocksInTailsAndAcrossPieces) {
  for (const int64_t position : {0, 17, 990, 999}) {
    for (const float bad : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}) {
      at::Tensor payload = at::ones({1000});
      payload[position] = bad;
      ArrivalSum sum(at::empty({1000}), at::zeros({1000}));
      feedInPieces(sum, payload, {static_cast<size_t>(position * 4 + 2)});  // splits the bad element itself
      EXPECT_FALSE(sum.allFinite()) << "missed " << bad << " at " << position;
    }
  }
  ArrivalSum finite(at::empty({4}), at::zeros({4}));
  const at::Tensor large = at::full({4}, std::numeric_limits<float>::max());
  feedInPieces(finite, large, {});
  EXPECT_TRUE(finite.allFinite()) << "the largest finite float is finite";
}

}  // namespace
}  // namespace ravnest::detail
