#include <gtest/gtest.h>

#include <thread>

#include "node/checkpoint_schedule.h"
#include "node/micro_batch_meta.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

using std::chrono::milliseconds;

/// Feeds counts from..to (batches of an epoch of `epochLength`); returns the marked counts and the announced.
std::pair<std::vector<uint64_t>, std::vector<uint64_t>> feed(CheckpointSchedule& schedule, uint64_t from, uint64_t to,
                                                             uint64_t epochLength) {
  std::vector<uint64_t> marked, announced;
  for (uint64_t count = from; count <= to; ++count) {
    uint64_t announce = 0;
    const uint64_t mark = schedule.markFor(count, static_cast<int64_t>((count - 1) % epochLength), announce);
    if (mark) marked.push_back(mark);
    if (announce) announced.push_back(announce);
  }
  return {marked, announced};
}

TEST(CheckpointScheduleTest, OneClusterMarksAWholeOptimizerStepOnceTheIntervalPassed) {
  CheckpointSchedule schedule({milliseconds(30), 4, 0, 3, 1, true});
  EXPECT_TRUE(feed(schedule, 1, 10, 100).first.empty());  // the interval has not passed yet
  std::this_thread::sleep_for(milliseconds(40));
  const auto [marked, announced] = feed(schedule, 11, 30, 100);
  EXPECT_EQ(marked, std::vector<uint64_t>{12});  // the first multiple of update_frequency, then not again
  EXPECT_TRUE(announced.empty());
}

TEST(CheckpointScheduleTest, NoIntervalMarksNothing) {
  CheckpointSchedule schedule({milliseconds(0), 1, 0, 3, 1, true});
  std::this_thread::sleep_for(milliseconds(5));
  EXPECT_TRUE(feed(schedule, 1, 50, 10).first.empty());
}

TEST(CheckpointScheduleTest, TheCoordinatorAnnouncesACountBeyondWhatAnyOtherRootCanHaveFed) {
  // Averages every 10 backward passes, 3 in flight: another root is at most 10 + 3 ahead.
  CheckpointSchedule coordinator({milliseconds(20), 2, 10, 3, 3, true});
  std::this_thread::sleep_for(milliseconds(30));
  const auto [marked, announced] = feed(coordinator, 1, 40, 100);
  ASSERT_EQ(announced, std::vector<uint64_t>{24});  // 1 + 2 * 10 + 3 = 24, a multiple of 2
  EXPECT_EQ(marked, std::vector<uint64_t>{24});

  CheckpointSchedule other({milliseconds(20), 2, 10, 3, 3, false});
  other.announced(24);
  other.announced(6);  // announced after it was fed: skipped with a warning, not held forever
  EXPECT_EQ(feed(other, 10, 40, 100).first, std::vector<uint64_t>{24});
}

TEST(CheckpointScheduleTest, WithPerEpochAveragingTheCoordinatorWaitsToKnowTheEpochLength) {
  CheckpointSchedule coordinator({milliseconds(20), 1, 0, 2, 2, true});
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_TRUE(feed(coordinator, 1, 7, 7).second.empty());  // epoch 0 of 7 batches, not yet seen whole
  const auto [marked, announced] = feed(coordinator, 8, 40, 7);
  ASSERT_EQ(announced, std::vector<uint64_t>{8 + 2 * 7 + 2});
  EXPECT_EQ(marked, announced);
}

TEST(CheckpointScheduleTest, AnnouncementsRoundTrip) {
  Message message = CheckpointSchedule::announcement(1234);
  message.sender = "node_3";
  ASSERT_TRUE(CheckpointSchedule::isAnnouncement(message));
  EXPECT_EQ(CheckpointSchedule::countOf(message), 1234u);
  message.tensors[0].tensor.fill_(-5);
  EXPECT_THROW(CheckpointSchedule::countOf(message), ProtocolError);
}

TEST(CheckpointScheduleTest, TheCheckpointMarkTravelsWithAMicroBatch) {
  Message message;
  attachMeta(message, {StreamKind::kTrain, 2, false, 5, 77});
  EXPECT_EQ(takeMeta(message).checkpointAt, 77u);
}

}  // namespace
}  // namespace ravnest::detail
