#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "comm/test_peers.h"
#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/common/error.h"

namespace ravnest {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::string addressOf(const PeerServer& server) {
  return "127.0.0.1:" + std::to_string(server.port());
}

Message messageOf(std::vector<NamedTensor> tensors, uint64_t id = 0, MessageKind kind = MessageKind::kActivation) {
  Message message;
  message.kind = kind;
  message.id = id;
  message.tensors = std::move(tensors);
  return message;
}

Message popOrFail(PeerServer& server, MessageKind kind = MessageKind::kActivation) {
  auto message = server.inbox(kind).pop(milliseconds(10000));
  if (!message) throw std::runtime_error("no message arrived within 10 s");
  return std::move(*message);
}

TEST(TransportTest, PingAnswersWithThePeerNodeName) {
  PeerServer server("node_1", "127.0.0.1:0");
  PeerClient client("node_0", addressOf(server));
  EXPECT_EQ(client.ping("hello"), "node_1");
}

TEST(TransportTest, EveryDTypeAndOddShapeArrivesExactly) {
  PeerServer server("node_1", "127.0.0.1:0");
  PeerClient client("node_0", addressOf(server));
  const at::Tensor nonContiguous = at::arange(30, at::kDouble).reshape({5, 6}).t();
  std::vector<NamedTensor> tensors = {
      {"f32", at::randn({3, 4})},
      {"f64", nonContiguous},
      {"f16", at::randn({5}).to(at::kHalf)},
      {"bf16", at::randn({5}).to(at::kBFloat16)},
      {"i64", at::randint(-1000, 1000, {7}, at::kLong)},
      {"i32", at::randint(-1000, 1000, {2, 2}, at::kInt)},
      {"i16", at::randint(-1000, 1000, {9}, at::kShort)},
      {"i8", at::randint(-100, 100, {9}, at::kChar)},
      {"u8", at::randint(0, 255, {9}, at::kByte)},
      {"bool", at::rand({6}) > 0.5},
      {"scalar", at::tensor(2.5).reshape({})},
      {"empty", at::empty({0, 3})},
  };
  client.send(messageOf(tensors, 42, MessageKind::kGradient));
  const Message received = popOrFail(server, MessageKind::kGradient);
  EXPECT_EQ(received.sender, "node_0");
  EXPECT_EQ(received.id, 42u);
  ASSERT_EQ(received.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(received.tensors[i].name, tensors[i].name);
    EXPECT_EQ(received.tensors[i].tensor.scalar_type(), tensors[i].tensor.scalar_type()) << tensors[i].name;
    EXPECT_TRUE(at::equal(received.tensors[i].tensor, tensors[i].tensor)) << tensors[i].name;
  }
}

TEST(TransportTest, CompressedMessagesArriveWithinTheCodecBound) {
  PeerServer server("node_1", "127.0.0.1:0");
  PeerClient client("node_0", addressOf(server));
  const at::Tensor original = at::randn({1000});
  client.send(messageOf({{"x", original}}), CodecKind::kFp16);
  const at::Tensor received = popOrFail(server).tensors.at(0).tensor;
  EXPECT_EQ(received.scalar_type(), at::kFloat);
  EXPECT_FALSE(at::equal(received, original));
  EXPECT_TRUE((received - original).abs().le(original.abs() * std::ldexp(1.0, -11) + 1e-7).all().item<bool>());
}

TEST(TransportTest, TwoServersExchangeTensorsInBothDirectionsAtOnce) {
  PeerServer serverA("node_a", "127.0.0.1:0");
  PeerServer serverB("node_b", "127.0.0.1:0");
  PeerClient toB("node_a", addressOf(serverB));
  PeerClient toA("node_b", addressOf(serverA));
  constexpr int kMessages = 12;
  auto sendAll = [&](const PeerClient& client, float base) {
    for (int i = 0; i < kMessages; ++i) client.send(messageOf({{"x", at::full({256, 1024}, base + i)}}, i));
  };
  auto checkAll = [&](PeerServer& server, float base) {
    for (int i = 0; i < kMessages; ++i) {
      const Message message = popOrFail(server);
      EXPECT_EQ(message.id, static_cast<uint64_t>(i));
      EXPECT_TRUE(at::equal(message.tensors.at(0).tensor, at::full({256, 1024}, base + i)));
    }
  };
  std::thread aSends(sendAll, std::cref(toB), 1000.f);
  std::thread bSends(sendAll, std::cref(toA), 2000.f);
  std::thread bReceives(checkAll, std::ref(serverB), 1000.f);
  checkAll(serverA, 2000.f);
  aSends.join();
  bSends.join();
  bReceives.join();
}

TEST(TransportTest, AFullInboxBlocksTheSenderUntilTheConsumerDrainsIt) {
  TransportOptions options;
  options.inboxCapacity = 1;
  options.ringPort = TransportOptions::kNoRingConnections;  // gRPC: direct_connection_test has the other path
  PeerServer server("node_1", "127.0.0.1:0", options);
  PeerClient client("node_0", addressOf(server));
  client.send(messageOf({{"x", at::ones({1 << 20})}}, 1));
  std::atomic<bool> secondDelivered{false};
  std::thread sender([&] {
    client.send(messageOf({{"x", at::ones({1 << 20})}}, 2));
    secondDelivered = true;
  });
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_FALSE(secondDelivered) << "the sender did not wait for room in the inbox";
  EXPECT_EQ(popOrFail(server).id, 1u);
  EXPECT_EQ(popOrFail(server).id, 2u);
  sender.join();
  EXPECT_TRUE(secondDelivered);
}

TEST(TransportTest, AFullInboxMakesTheSenderTimeOutAndLeaksNoSlot) {
  TransportOptions options;
  options.inboxCapacity = 1;
  options.ringPort = TransportOptions::kNoRingConnections;  // gRPC: direct_connection_test has the other path
  PeerServer server("node_1", "127.0.0.1:0", options);
  PeerClient patient("node_0", addressOf(server));
  PeerClient hasty("node_0", addressOf(server), testing::optionsWithDeadline(milliseconds(300)));
  patient.send(messageOf({{"x", at::ones({16})}}, 1));
  const auto start = Clock::now();
  EXPECT_THROW(hasty.send(messageOf({{"x", at::ones({16})}}, 2)), TimeoutError);
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  EXPECT_EQ(popOrFail(server).id, 1u);
  patient.send(messageOf({{"x", at::ones({16})}}, 3));
  EXPECT_EQ(popOrFail(server).id, 3u) << "a message whose sender timed out was delivered";
}

TEST(TransportTest, TheJobTokenIsCheckedOnEveryCall) {
  TransportOptions serverOptions;
  serverOptions.authToken = "s3cret";
  PeerServer server("node_1", "127.0.0.1:0", serverOptions);
  PeerClient rightToken("node_0", addressOf(server), serverOptions);
  EXPECT_EQ(rightToken.ping(), "node_1");
  rightToken.send(messageOf({{"x", at::ones({4})}}));
  EXPECT_EQ(popOrFail(server).tensors.size(), 1u);

  TransportOptions wrong;
  wrong.authToken = "guess";
  PeerClient wrongToken("intruder", addressOf(server), wrong);
  PeerClient noToken("intruder", addressOf(server));
  try {
    wrongToken.send(messageOf({{"x", at::ones({4})}}));
    FAIL() << "a wrong token was accepted";
  } catch (const NetworkError& error) {
    EXPECT_NE(std::string(error.what()).find("token"), std::string::npos) << error.what();
  }
  EXPECT_THROW(noToken.ping(), NetworkError);
  EXPECT_EQ(server.refusedRequests(), 2u);
  EXPECT_FALSE(server.inbox(MessageKind::kActivation).pop(milliseconds(50)).has_value());
}

TEST(TransportTest, AnUnreachablePeerGivesANetworkErrorWithinTheDeadline) {
  int freePort = 0;
  {
    PeerServer probe("probe", "127.0.0.1:0");
    freePort = probe.port();
  }
  PeerClient client("node_0", "127.0.0.1:" + std::to_string(freePort), testing::optionsWithDeadline(milliseconds(2000)));
  const auto start = Clock::now();
  EXPECT_THROW(client.send(messageOf({{"x", at::ones({4})}})), NetworkError);
  EXPECT_LT(Clock::now() - start, milliseconds(2500));
}

TEST(TransportTest, APortInUseIsReportedClearly) {
  PeerServer first("node_0", "127.0.0.1:0");
  try {
    PeerServer second("node_1", addressOf(first));
    FAIL() << "two servers bound the same port";
  } catch (const NetworkError& error) {
    EXPECT_NE(std::string(error.what()).find("in use"), std::string::npos) << error.what();
  }
}

TEST(TransportTest, ATensorLargerThanTwoGiBIsChunkedAndArrivesExactly) {
  const int64_t bytes = (int64_t{1} << 31) + 4099;
  const at::Tensor pattern = at::randint(0, 255, {1 << 20}, at::kByte);
  const at::Tensor large = at::cat({pattern.repeat({bytes >> 20}), pattern.slice(0, 0, bytes & ((1 << 20) - 1))});
  ASSERT_EQ(large.numel(), bytes);
  PeerServer server("node_1", "127.0.0.1:0");
  PeerClient client("node_0", addressOf(server));
  client.send(messageOf({{"large", large}}));
  const at::Tensor received = popOrFail(server).tensors.at(0).tensor;
  EXPECT_TRUE(at::equal(received, large));
}

}  // namespace
}  // namespace ravnest
