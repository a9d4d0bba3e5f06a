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

TEST(WeightStashTest, AnOldVersionKeepsItsWeightsWhileTheLiveOnesChange) {
  auto parameters = makeParameters();
  WeightStash stash(parameters);
  const uint64_t old = stash.acquireCurrent();
  EXPECT_TRUE(stash.weights(old)[0].is_same(parameters[0])) << "the current version is the live weights";
  updateInPlace(stash, parameters);
  updateInPlace(stash, parameters);
  EXPECT_TRUE(torch::equal(stash.weights(old)[0], torch::zeros({256})));
  EXPECT_TRUE(torch::equal(parameters[0].detach(), torch::full({256}, 2.0)));
  stash.release(old);
  EXPECT_EQ(stash.stashedVersions(), 0u);
}

TEST(WeightStashTest, FrozenWeightsAreCopiedOncePerVersionAndSurviveUpdates) {
  auto parameters = makeParameters();
  WeightStash stash(parameters);
  const uint64_t first = stash.acquireCurrent();
  const uint64_t second = stash.acquireCurrent();
  const at::Tensor frozen = stash.frozen(first)[0];
  EXPECT_FALSE(frozen.is_same(parameters[0]));
  EXPECT_TRUE(stash.frozen(second)[0].is_same(frozen)) << "holders of one version share one copy";
  updateInPlace(stash, parameters);
  EXPECT_EQ(stash.stashedVersions(), 1u) << "the update found the copy made already";
  EXPECT_TRUE(torch::equal(frozen, torch::zeros({256})));
  stash.release(first);
  stash.release(second);
  EXPECT_EQ(stash.stashedVersions(), 0u);
}

TEST(WeightStashTest, RefusesVersionsNobodyHolds) {
  auto parameters = makeParameters();
  WeightStash stash(parameters);
  EXPECT_THROW(stash.release(7), InvalidArgumentError);
  EXPECT_THROW(stash.frozen(0), InvalidArgumentError);
  updateInPlace(stash, parameters);
  EXPECT_THROW(stash.weights(0), InvalidArgumentError);
}

}  // namespace
}  // namespace ravnest
