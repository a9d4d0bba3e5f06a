// What a server lets into its inboxes besides well-formed frames: no NaN or Inf (rejected, or skipped on
// request), and no message a validator refuses for its sender (PERMISSION_DENIED). On both transports: gRPC,
// and direct connections, where a rejection reaches the sender at its next send or flush.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <thread>

#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/common/error.h"

namespace ravnest {
namespace {

Message messageOf(const at::Tensor& tensor) {
  Message message;
  message.id = 7;
  message.tensors.push_back({"ok", at::ones({3})});
  message.tensors.push_back({"poisoned", tensor});
  return message;
}

std::string addressOf(const PeerServer& server) { return "127.0.0.1:" + std::to_string(server.port()); }

/// Runs every test over gRPC (the server offers no direct connections) and over a direct connection.
class AdmissionTest : public ::testing::TestWithParam<bool> {
 protected:
  TransportOptions transport(TransportOptions options = {}) const {
    if (!GetParam()) options.ringPort = TransportOptions::kNoRingConnections;
    return options;
  }
  /// Sends `message` and waits until the server took it, so that its verdict is known.
  static void sendConfirmed(const PeerClient& client, Message message) {
    client.send(std::move(message));
    client.flush();
  }
};

INSTANTIATE_TEST_SUITE_P(Transports, AdmissionTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Direct" : "Grpc"; });

TEST_P(AdmissionTest, ANanTensorIsRejectedNamingIt) {
  PeerServer server("node_1", "127.0.0.1:0", transport());
  PeerClient client("node_0", addressOf(server));
  at::Tensor values = at::ones({5});
  values[2] = std::nan("");
  try {
    sendConfirmed(client, messageOf(values));
    FAIL() << "a NaN tensor was accepted";
  } catch (const ProtocolError& error) {
    EXPECT_NE(std::string(error.what()).find("tensor 'poisoned' holds NaN or Inf"), std::string::npos) << error.what();
  }
  EXPECT_EQ(server.rejectedMessages(), 1u);
  EXPECT_EQ(server.inbox(MessageKind::kActivation).size(), 0u);
}

// The server checks raw float payloads while it copies them in, piece by piece; an element whose bytes
// arrive in two frames must still be seen, and so must a NaN in a dtype checked after decoding.
TEST_P(AdmissionTest, NonFiniteValuesAreFoundAcrossFramesAndAfterDecoding) {
  TransportOptions smallFrames;
  smallFrames.chunkBytes = 12;  // float64 elements straddle frames (and, on a direct connection, reads)
  PeerServer server("node_1", "127.0.0.1:0", transport(smallFrames));
  PeerClient client("node_0", addressOf(server), smallFrames);
  for (int64_t position : {0, 1, 6}) {
    at::Tensor values = at::ones({7}, at::kDouble);
    values[position] = -std::numeric_limits<double>::infinity();
    EXPECT_THROW(sendConfirmed(client, messageOf(values)), ProtocolError) << "Inf at element " << position;
  }
  at::Tensor brainFloats = at::ones({4}, at::kBFloat16);
  brainFloats[3] = std::nanf("");
  EXPECT_THROW(sendConfirmed(client, messageOf(brainFloats)), ProtocolError);
  EXPECT_EQ(server.rejectedMessages(), 4u);
  sendConfirmed(client, messageOf(at::full({7}, 3.0, at::kDouble)));
  EXPECT_TRUE(server.inbox(MessageKind::kActivation).pop(std::chrono::seconds(5)).has_value());
}

TEST_P(AdmissionTest, AnInfTensorIsSkippedWhenAskedTo) {
  TransportOptions options;
  options.nonFinite = NonFinitePolicy::kSkip;
  PeerServer server("node_1", "127.0.0.1:0", transport(options));
  PeerClient client("node_0", addressOf(server));
  at::Tensor values = at::ones({5}, at::kHalf);
  values[0] = std::numeric_limits<float>::infinity();
  sendConfirmed(client, messageOf(values));  // accepted on the wire, then dropped
  EXPECT_EQ(server.skippedMessages(), 1u);
  EXPECT_EQ(server.rejectedMessages(), 0u);
  sendConfirmed(client, messageOf(at::zeros({5})));
  const auto received = server.inbox(MessageKind::kActivation).pop(std::chrono::seconds(5));
  ASSERT_TRUE(received.has_value());
  EXPECT_TRUE(at::equal(received->tensors.at(1).tensor, at::zeros({5})));
  EXPECT_EQ(server.inbox(MessageKind::kActivation).size(), 0u);
}

TEST_P(AdmissionTest, IntegerTensorsAreNotChecked) {
  PeerServer server("node_1", "127.0.0.1:0", transport());
  PeerClient client("node_0", addressOf(server));
  sendConfirmed(client, messageOf(at::arange(5)));
  EXPECT_TRUE(server.inbox(MessageKind::kActivation).pop(std::chrono::seconds(5)).has_value());
}

TEST_P(AdmissionTest, AValidatorRefusingTheSenderGivesPermissionDenied) {
  PeerServer server("node_1", "127.0.0.1:0", transport());
  server.setValidator(MessageKind::kGradient, [](const Message& message) {
    if (message.sender != "node_2") throw PermissionError("gradients come from node_2, not " + message.sender);
  });
  PeerClient intruder("node_9", addressOf(server));
  Message message = messageOf(at::ones({2}));
  message.kind = MessageKind::kGradient;
  try {
    sendConfirmed(intruder, message);
    FAIL() << "a refused sender got through";
  } catch (const ProtocolError& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("refused the message: gradients come from node_2, not node_9"), std::string::npos) << what;
  }
  PeerClient downstream("node_2", addressOf(server));
  sendConfirmed(downstream, message);
  EXPECT_TRUE(server.inbox(MessageKind::kGradient).pop(std::chrono::seconds(5)).has_value());
}

// A validator belongs to an object (a RingAllReduce) that may be destroyed right after removing it: removing
// must wait for a call that is running it, on whichever transport's thread.
TEST_P(AdmissionTest, RemovingAValidatorWaitsForTheCallRunningIt) {
  PeerServer server("node_1", "127.0.0.1:0", transport());
  std::atomic<bool> entered{false};
  std::atomic<bool> running{false};
  server.setValidator(MessageKind::kActivation, [&](const Message&) {
    running = true;
    entered = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    running = false;
  });
  PeerClient client("node_0", addressOf(server));
  std::thread sending([&] { sendConfirmed(client, messageOf(at::ones({2}))); });
  while (!entered) std::this_thread::yield();
  server.setValidator(MessageKind::kActivation, {});
  EXPECT_FALSE(running) << "the validator still ran after it was removed";
  sending.join();
}

}  // namespace
}  // namespace ravnest
