// The NaN/Inf checks that run on every received byte: every position, both float widths, block boundaries.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "tensor/finiteness.h"

namespace ravnest::detail {
namespace {

template <typename Float>
void expectEveryPositionFound(at::ScalarType dtype) {
  const Float bad[] = {std::numeric_limits<Float>::quiet_NaN(), std::numeric_limits<Float>::infinity(),
                       -std::numeric_limits<Float>::infinity()};
  for (int64_t count : {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 100}) {
    std::vector<Float> values(count, std::numeric_limits<Float>::max());
    EXPECT_TRUE(rawFloatsAllFinite(values.data(), count, dtype)) << "the largest finite value is finite";
    for (int64_t position = 0; position < count; ++position) {
      for (const Float value : bad) {
        values[position] = value;
        EXPECT_FALSE(rawFloatsAllFinite(values.data(), count, dtype)) << value << " at " << position << " of " << count;
        values[position] = -std::numeric_limits<Float>::denorm_min();
      }
    }
    EXPECT_TRUE(rawFloatsAllFinite(values.data(), count, dtype)) << "subnormals are finite";
  }
}

TEST(FinitenessTest, NanAndInfAreFoundAtEveryPositionOfFloat32) {
  expectEveryPositionFound<float>(at::kFloat);
}

TEST(FinitenessTest, NanAndInfAreFoundAtEveryPositionOfFloat64) {
  expectEveryPositionFound<double>(at::kDouble);
}

TEST(FinitenessTest, CheckedBlocksUsesOnlyTheBlocksBeforeTheFirstBadOne) {
  std::vector<float> values(3 * kCheckedFloats + 5, 1.0f);
  std::vector<int64_t> used;
  EXPECT_TRUE(checkedBlocks(values.data(), static_cast<int64_t>(values.size()),
                            [&](int64_t first, int64_t size) { used.insert(used.end(), {first, size}); }));
  EXPECT_EQ(used, (std::vector<int64_t>{0, kCheckedFloats, kCheckedFloats, kCheckedFloats, 2 * kCheckedFloats,
                                        kCheckedFloats, 3 * kCheckedFloats, 5}));
  used.clear();
  values[2 * kCheckedFloats + 7] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(checkedBlocks(values.data(), static_cast<int64_t>(values.size()),
                             [&](int64_t first, int64_t size) { used.insert(used.end(), {first, size}); }));
  EXPECT_EQ(used, (std::vector<int64_t>{0, kCheckedFloats, kCheckedFloats, kCheckedFloats}));
}

}  // namespace
}  // namespace ravnest::detail
