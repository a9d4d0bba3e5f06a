#include "ravnest/pipeline/scheduler.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace ravnest {
namespace {

using std::chrono::milliseconds;

Message work(MessageKind kind, uint64_t id) {
  Message message;
  message.kind = kind;
  message.id = id;
  return message;
}

TEST(SchedulerTest, RunsUrgentThenBackwardThenForwardWorkEachInArrivalOrder) {
  Scheduler scheduler(8);
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 1), milliseconds(10)));
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 2), milliseconds(10)));
  scheduler.pushBackward(work(MessageKind::kGradient, 3));
  scheduler.pushBackward(work(MessageKind::kGradient, 4));
  scheduler.pushUrgent(work(MessageKind::kControl, 5));
  std::vector<uint64_t> order;
  while (auto next = scheduler.next(milliseconds(10))) order.push_back(next->id);
  EXPECT_EQ(order, (std::vector<uint64_t>{5, 3, 4, 1, 2}));
}

TEST(SchedulerTest, BackwardWorkArrivingLaterStillOvertakesQueuedForwardWork) {
  Scheduler scheduler(8);
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 1), milliseconds(10)));
  EXPECT_EQ(scheduler.next(milliseconds(10))->id, 1u);
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 2), milliseconds(10)));
  scheduler.pushBackward(work(MessageKind::kGradient, 1));
  EXPECT_EQ(scheduler.next(milliseconds(10))->kind, MessageKind::kGradient);
}

TEST(SchedulerTest, ForwardProducersWaitWhileTheQueueIsFullAndResumeWhenWorkIsTaken) {
  Scheduler scheduler(1);
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
  Scheduler scheduler(1);
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
  Scheduler scheduler(1);
  ASSERT_TRUE(scheduler.pushForward(work(MessageKind::kActivation, 1), milliseconds(10)));
  Message second = work(MessageKind::kActivation, 2);
  second.tensors.push_back({"x", at::Tensor()});
  ASSERT_FALSE(scheduler.pushForward(std::move(second), milliseconds(10)));
  EXPECT_EQ(second.tensors.size(), 1u) << "a failed push emptied the message";
  EXPECT_EQ(scheduler.next(milliseconds(10))->id, 1u);
  ASSERT_TRUE(scheduler.pushForward(std::move(second), milliseconds(10)));
  const auto retried = scheduler.next(milliseconds(10));
  ASSERT_TRUE(retried.has_value());
  EXPECT_EQ(retried->id, 2u);
  EXPECT_EQ(retried->tensors.size(), 1u);
}

}  // namespace
}  // namespace ravnest
