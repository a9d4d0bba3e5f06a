#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "ravnest/comm/inbox.h"

namespace ravnest {
namespace {

using std::chrono::milliseconds;

Message messageWithId(uint64_t id) {
  Message message;
  message.id = id;
  return message;
}

TEST(InboxTest, ReservedSlotsBecomeMessagesInOrder) {
  Inbox inbox(2);
  int granted = 0;
  inbox.reserve([&](bool ok) { granted += ok; });
  inbox.reserve([&](bool ok) { granted += ok; });
  EXPECT_EQ(granted, 2);
  inbox.commit(messageWithId(1));
  inbox.commit(messageWithId(2));
  EXPECT_EQ(inbox.pop(milliseconds(0))->id, 1u);
  EXPECT_EQ(inbox.pop(milliseconds(0))->id, 2u);
  EXPECT_FALSE(inbox.pop(milliseconds(10)).has_value());
}

TEST(InboxTest, AFullInboxGrantsTheNextSlotWhenAConsumerPops) {
  Inbox inbox(1);
  inbox.reserve([](bool) {});
  inbox.commit(messageWithId(1));
  std::atomic<bool> granted{false};
  inbox.reserve([&](bool ok) { granted = ok; });
  EXPECT_FALSE(granted);
  ASSERT_TRUE(inbox.pop(milliseconds(0)).has_value());
  EXPECT_TRUE(granted);
}

TEST(InboxTest, ReleasedSlotGoesToTheNextWaiter) {
  Inbox inbox(1);
  inbox.reserve([](bool) {});
  bool granted = false;
  inbox.reserve([&](bool ok) { granted = ok; });
  EXPECT_FALSE(granted);
  inbox.release();
  EXPECT_TRUE(granted);
}

TEST(InboxTest, CloseRefusesWaitersAndWakesConsumers) {
  Inbox inbox(1);
  inbox.reserve([](bool) {});
  int refused = 0;
  inbox.reserve([&](bool ok) { refused += !ok; });
  std::thread consumer([&] { EXPECT_FALSE(inbox.pop(milliseconds(10000)).has_value()); });
  inbox.close();
  consumer.join();
  EXPECT_EQ(refused, 1);
  inbox.reserve([&](bool ok) { refused += !ok; });
  EXPECT_EQ(refused, 2);
}

TEST(InboxTest, PopWaitsForACommitFromAnotherThread) {
  Inbox inbox(4);
  std::thread producer([&] {
    std::this_thread::sleep_for(milliseconds(20));
    inbox.reserve([](bool) {});
    inbox.commit(messageWithId(9));
  });
  const auto message = inbox.pop(milliseconds(5000));
  producer.join();
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->id, 9u);
}

}  // namespace
}  // namespace ravnest
