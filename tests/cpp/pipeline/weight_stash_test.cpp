#include "ravnest/pipeline/weight_stash.h"

#include <deque>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ravnest/common/error.h"

namespace ravnest {
namespace {

// An "optimizer step" that changes every weight in place, as torch.optim does.
void updateInPlace(WeightStash& stash, std::vector<at::Tensor>& parameters) {
  stash.beforeUpdate();
  torch::NoGradGuard noGrad;
  for (auto& parameter : parameters) parameter.add_(1.0);
}

std::vector<at::Tensor> makeParameters() {
  return {torch::zeros({256}, torch::requires_grad()), torch::zeros({64, 4}, torch::requires_grad())};
}

TEST(WeightStashTest, KeepsNoCopyWhenEveryMicroBatchFinishesBeforeTheUpdate) {
  auto parameters = makeParameters();
  WeightStash stash(parameters);
  for (int step = 0; step < 5; ++step) {
    stash.release(stash.acquireCurrent());
    updateInPlace(stash, parameters);
    EXPECT_EQ(stash.stashedVersions(), 0u);
  }
  EXPECT_EQ(stash.currentVersion(), 5u);
}

TEST(WeightStashTest, MemoryStaysBoundedByTheMicroBatchesInFlight) {
  constexpr size_t kInFlight = 3;
  auto parameters = makeParameters();
  const int64_t versionBytes = (256 + 64 * 4) * 4;
  WeightStash stash(parameters);
  std::deque<uint64_t> inFlight;
  for (int microBatch = 0; microBatch < 50; ++microBatch) {
    inFlight.push_back(stash.acquireCurrent());
    if (inFlight.size() == kInFlight) {  // 1F1B steady state: one backward, then the update
      stash.release(inFlight.front());
      inFlight.pop_front();
      updateInPlace(stash, parameters);
    }
    EXPECT_LE(stash.stashedVersions(), kInFlight);
    EXPECT_LE(stash.stashedBytes(), static_cast<int64_t>(kInFlight) * versionBytes);
  }
  while (!inFlight.empty()) {
    stash.release(inFlight.front());
    inFlight.pop_front();
  }
  EXPECT_EQ(stash.stashedVersions(), 0u);
  EXPECT_EQ(stash.stashedBytes(), 0);
}

TEST(WeightStashTest, BackwardSeesTheWeightsItsForwardUsedAndGradientsReachTheLiveParameters) {
  auto parameters = makeParameters();
  WeightStash stash(parameters);
  const uint64_t old = stash.acquireCurrent();
  updateInPlace(stash, parameters);
  updateInPlace(stash, parameters);
  stash.withVersion(old, [&] {
    EXPECT_TRUE(torch::equal(parameters[0], torch::zeros({256})));
    (parameters[0] * 3).sum().backward();
  });
  EXPECT_TRUE(torch::equal(parameters[0].detach(), torch::full({256}, 2.0)));
  EXPECT_TRUE(torch::equal(parameters[0].grad(), torch::full({256}, 3.0)));
  stash.release(old);
  EXPECT_EQ(stash.stashedVersions(), 0u);
}

TEST(WeightStashTest, PutsTheLiveWeightsBackWhenTheBodyThrows) {
  auto parameters = makeParameters();
  WeightStash stash(parameters);
  const uint64_t old = stash.acquireCurrent();
  updateInPlace(stash, parameters);
  EXPECT_THROW(stash.withVersion(old, [] { throw Error("boom"); }), Error);
  EXPECT_TRUE(torch::equal(parameters[0].detach(), torch::ones({256})));
}

TEST(WeightStashTest, RefusesVersionsNobodyHolds) {
  auto parameters = makeParameters();
  WeightStash stash(parameters);
  EXPECT_THROW(stash.release(7), InvalidArgumentError);
  updateInPlace(stash, parameters);
  EXPECT_THROW(stash.withVersion(0, [] {}), InvalidArgumentError);
}

}  // namespace
}  // namespace ravnest
