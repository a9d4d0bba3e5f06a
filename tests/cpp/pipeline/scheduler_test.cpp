#include "ravnest/pipeline/scheduler.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "ravnest/common/error.h"

namespace ravnest {
namespace {

using std::chrono::milliseconds;

const SchedulePolicy kOneFOneB(ScheduleKind::kOneFOneB, 4);

Message work(MessageKind kind, uint64_t id) {
  Message message;
  message.kind = kind;
  message.id = id;
  return message;
}

TEST(SchedulerTest, RunsUrgentThenBackwardThenForwardWorkEachInArrivalOrder) {
  Scheduler scheduler(8, kOneFOneB);
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 1), milliseconds(10)));
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 2), milliseconds(10)));
  scheduler.pushBackward(work(MessageKind::kGradient, 3));
  scheduler.pushBackward(work(MessageKind::kGradient, 4));
  scheduler.pushUrgent(work(MessageKind::kControl, 5));
  std::vector<uint64_t> order;
  while (auto next = scheduler.next(milliseconds(10))) order.push_back(next->message.id);
  EXPECT_EQ(order, (std::vector<uint64_t>{5, 3, 4, 1, 2}));
}

TEST(SchedulerTest, BackwardWorkArrivingLaterStillOvertakesQueuedForwardWork) {
  Scheduler scheduler(8, kOneFOneB);
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 1), milliseconds(10)));
  EXPECT_EQ(scheduler.next(milliseconds(10))->message.id, 1u);
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 2), milliseconds(10)));
  scheduler.pushBackward(work(MessageKind::kGradient, 1));
  EXPECT_EQ(scheduler.next(milliseconds(10))->message.kind, MessageKind::kGradient);
}

TEST(SchedulerTest, ForwardProducersWaitWhileTheQueueIsFullAndResumeWhenWorkIsTaken) {
  Scheduler scheduler(1, kOneFOneB);
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 1), milliseconds(10)));
  EXPECT_FALSE(scheduler.pushForward(work(MessageKind::kActivation, 2), milliseconds(20)));
  std::thread consumer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    scheduler.next(milliseconds(10));
  });
  EXPECT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 2), milliseconds(5000)));
  consumer.join();
}

TEST(SchedulerTest, CloseWakesWaitersAndRefusesNewWork) {
  Scheduler scheduler(1, kOneFOneB);
  std::thread closer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    scheduler.close();
  });
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(scheduler.next(milliseconds(5000)).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(4000));
  closer.join();
  EXPECT_FALSE(scheduler.pushForward(work(MessageKind::kActivation, 1), milliseconds(10)));
  EXPECT_TRUE(scheduler.closed());
}

TEST(SchedulerTest, AForwardPushThatTimesOutKeepsItsMessageForTheRetry) {
  Scheduler scheduler(1, kOneFOneB);
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 1), milliseconds(10)));
  Message second = work(MessageKind::kActivation, 2);
  second.tensors.push_back({"x", at::Tensor()});
  ASSERT_FALSE(scheduler.pushForward(std::move(second), milliseconds(10)));
  EXPECT_EQ(second.tensors.size(), 1u) << "a failed push emptied the message";
  EXPECT_EQ(scheduler.next(milliseconds(10))->message.id, 1u);
  ASSERT_TRUE(scheduler.pushForward(std::move(second), milliseconds(10)));
  const auto retried = scheduler.next(milliseconds(10));
  ASSERT_TRUE(retried.has_value());
  EXPECT_EQ(retried->message.id, 2u);
  EXPECT_EQ(retried->message.tensors.size(), 1u);
}

TEST(SchedulerTest, ZeroBubbleRunsDeferredWeightPassesWhenNothingElseIsReadyOrAtTheLimit) {
  Scheduler scheduler(8, SchedulePolicy(ScheduleKind::kZeroBubble, 2));
  scheduler.setDeferredWeight(1);
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 1), milliseconds(10)));
  scheduler.pushBackward(work(MessageKind::kGradient, 2));
  EXPECT_EQ(scheduler.next(milliseconds(10))->kind, WorkKind::kBackward);
  EXPECT_EQ(scheduler.next(milliseconds(10))->kind, WorkKind::kForward);
  EXPECT_EQ(scheduler.next(milliseconds(10))->kind, WorkKind::kWeight) << "idle: W fills the bubble";
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 3), milliseconds(10)));
  scheduler.setDeferredWeight(2);
  EXPECT_EQ(scheduler.next(milliseconds(10))->kind, WorkKind::kWeight) << "at the limit W goes first";
  scheduler.setDeferredWeight(0);
  EXPECT_EQ(scheduler.next(milliseconds(10))->kind, WorkKind::kForward);
  EXPECT_FALSE(scheduler.next(milliseconds(10)).has_value());
}

TEST(SchedulerTest, ZeroBubbleRunsAReadyForwardPassRightAfterEachBackwardPass) {
  Scheduler scheduler(8, SchedulePolicy(ScheduleKind::kZeroBubble, 8));
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 1), milliseconds(10)));
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 2), milliseconds(10)));
  scheduler.pushBackward(work(MessageKind::kGradient, 3));
  scheduler.pushBackward(work(MessageKind::kGradient, 4));
  EXPECT_EQ(scheduler.next(milliseconds(10))->message.id, 3u) << "B before F";
  EXPECT_EQ(scheduler.next(milliseconds(10))->message.id, 1u) << "after a B, F first (ZB-H1's F B W order)";
  EXPECT_EQ(scheduler.next(milliseconds(10))->message.id, 4u);
  EXPECT_EQ(scheduler.next(milliseconds(10))->message.id, 2u);
}

TEST(SchedulerTest, OneFOneBAlwaysRunsBackwardWorkFirst) {
  Scheduler scheduler(8, kOneFOneB);
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 1), milliseconds(10)));
  scheduler.pushBackward(work(MessageKind::kGradient, 2));
  scheduler.pushBackward(work(MessageKind::kGradient, 3));
  EXPECT_EQ(scheduler.next(milliseconds(10))->message.id, 2u);
  EXPECT_EQ(scheduler.next(milliseconds(10))->message.id, 3u);
  EXPECT_EQ(scheduler.next(milliseconds(10))->message.id, 1u);
}

TEST(SchedulePolicyTest, NamesParseAndUnknownNamesAreRefused) {
  EXPECT_EQ(parseSchedule("zb"), ScheduleKind::kZeroBubble);
  EXPECT_EQ(parseSchedule("1f1b"), ScheduleKind::kOneFOneB);
  EXPECT_EQ(scheduleName(ScheduleKind::kZeroBubble), "zb");
  EXPECT_THROW(parseSchedule("gpipe"), InvalidArgumentError);
  EXPECT_THROW(SchedulePolicy(ScheduleKind::kZeroBubble, 0), InvalidArgumentError);
}

}  // namespace
}  // namespace ravnest
