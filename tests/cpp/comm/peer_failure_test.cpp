#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>

#include "comm/test_peers.h"
#include "ravnest/comm/peer_client.h"
#include "ravnest/common/error.h"

namespace ravnest {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

Message smallMessage() {
  Message message;
  message.tensors.push_back({"x", at::ones({1024})});
  return message;
}

TEST(PeerFailureTest, KillingThePeerProcessGivesANetworkErrorWithinTheDeadline) {
  testing::ChildPeer peer;
  PeerClient client("node_0", peer.address(), testing::optionsWithDeadline(milliseconds(2000)));
  client.send(smallMessage());
  peer.signal(SIGKILL);
  const auto start = Clock::now();
  EXPECT_THROW(client.send(smallMessage()), NetworkError);
  EXPECT_LT(Clock::now() - start, milliseconds(2500));
}

TEST(PeerFailureTest, AFrozenPeerGivesATimeoutErrorAtTheDeadline) {
  testing::ChildPeer peer;
  PeerClient client("node_0", peer.address(), testing::optionsWithDeadline(milliseconds(500)));
  EXPECT_EQ(client.ping(), "test_peer");
  peer.signal(SIGSTOP);
  const auto start = Clock::now();
  EXPECT_THROW(client.send(smallMessage()), TimeoutError);
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(400));
  EXPECT_LT(elapsed, milliseconds(2000));
}

TEST(PeerFailureTest, APeerProcessChecksTheTokenToo) {
  testing::ChildPeer peer({"--token", "job-token"});
  TransportOptions options = testing::optionsWithDeadline(milliseconds(2000));
  options.authToken = "job-token";
  EXPECT_EQ(PeerClient("node_0", peer.address(), options).ping(), "test_peer");
  options.authToken = "other";
  EXPECT_THROW(PeerClient("node_0", peer.address(), options).ping(), NetworkError);
}

}  // namespace
}  // namespace ravnest
