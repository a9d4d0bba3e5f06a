// Per-peer byte counters: a sender and its receiver count the same bytes for every delivered data message,
// over a real gRPC connection.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/comm/traffic_counters.h"
#include "ravnest/common/error.h"

namespace ravnest {
namespace {

TransportOptions countingInto(std::shared_ptr<TrafficCounters> traffic) {
  TransportOptions options;
  options.traffic = std::move(traffic);
  options.chunkBytes = 64 << 10;  // several frames per large message
  return options;
}

Message messageOf(MessageKind kind, at::Tensor tensor) {
  Message message;
  message.kind = kind;
  message.tensors.push_back({"x", std::move(tensor)});
  return message;
}

TEST(TrafficCountersTest, SenderAndReceiverCountTheSameBytesPerPeer) {
  auto received = std::make_shared<TrafficCounters>();
  auto sent = std::make_shared<TrafficCounters>();
  PeerServer server("node_1", "127.0.0.1:0", countingInto(received));
  const std::string address = "127.0.0.1:" + std::to_string(server.port());
  PeerClient client("node_0", address, countingInto(sent));

  client.send(messageOf(MessageKind::kActivation, at::randn({1000, 100})));  // 400 kB: several frames
  client.send(messageOf(MessageKind::kGradient, at::randn({3})));
  ASSERT_TRUE(server.inbox(MessageKind::kActivation).pop(std::chrono::seconds(10)));
  ASSERT_TRUE(server.inbox(MessageKind::kGradient).pop(std::chrono::seconds(10)));

  const auto sentTo = sent->sentTo.snapshot();
  const auto receivedFrom = received->receivedFrom.snapshot();
  ASSERT_EQ(sentTo.size(), 1u);
  ASSERT_EQ(receivedFrom.size(), 1u);
  EXPECT_GT(sentTo.at(address), 400000u);
  EXPECT_EQ(sentTo.at(address), receivedFrom.at("node_0"));
  EXPECT_TRUE(sent->receivedFrom.snapshot().empty());
  EXPECT_TRUE(received->sentTo.snapshot().empty());
}

TEST(TrafficCountersTest, ControlMessagesPingsAndFailedSendsAreNotCounted) {
  auto traffic = std::make_shared<TrafficCounters>();
  PeerServer server("node_1", "127.0.0.1:0", countingInto(traffic));
  const std::string address = "127.0.0.1:" + std::to_string(server.port());
  PeerClient client("node_0", address, countingInto(traffic));
  client.ping();
  client.send(messageOf(MessageKind::kControl, at::zeros({4})));
  EXPECT_TRUE(traffic->sentTo.snapshot().empty());
  EXPECT_TRUE(traffic->receivedFrom.snapshot().empty());

  server.shutdown();
  EXPECT_THROW(client.send(messageOf(MessageKind::kActivation, at::zeros({4}))), NetworkError);
  EXPECT_TRUE(traffic->sentTo.snapshot().empty());
}

TEST(TrafficCountersTest, ConcurrentAddsToNewAndKnownPeersAreAllKept) {
  PeerByteCounts counts;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&counts, t] {
      for (int i = 0; i < 10000; ++i) counts.add("peer_" + std::to_string((t + i) % 4), 3);
    });
  }
  for (auto& thread : threads) thread.join();
  const auto snapshot = counts.snapshot();
  ASSERT_EQ(snapshot.size(), 4u);
  for (const auto& [peer, bytes] : snapshot) EXPECT_EQ(bytes, 8u * 10000u * 3u / 4u) << peer;
}

}  // namespace
}  // namespace ravnest
