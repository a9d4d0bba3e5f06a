// Pipeline messages on direct connections (docs/wire_protocol.md, "Direct connections"): the order of a
// connection's messages, back-pressure from a full inbox through TCP, confirmed delivery, the fallback to gRPC,
// and hostile bytes written straight onto the socket. Every hostile case ends with an honest peer served.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "comm/stream/stream_socket.h"
#include "comm/stream/stream_wire.h"
#include "comm/wire_headers.h"
#include "ravnest.pb.h"
#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/common/error.h"

namespace ravnest {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

detail::SteadyTime soon() { return Clock::now() + std::chrono::seconds(5); }

Message messageOf(uint64_t id, at::Tensor tensor, MessageKind kind = MessageKind::kActivation) {
  Message message;
  message.kind = kind;
  message.id = id;
  message.tensors.push_back({"x", std::move(tensor)});
  return message;
}

TransportOptions withToken(TransportOptions options = {}) {
  options.authToken = "secret";
  return options;
}

class DirectConnectionTest : public ::testing::Test {
 protected:
  void start(TransportOptions options = {}) {
    server_ = std::make_unique<PeerServer>("node_1", "127.0.0.1:0", withToken(options));
    address_ = "127.0.0.1:" + std::to_string(server_->port());
  }

  PeerClient client(const std::string& name, TransportOptions options = {}) const {
    return PeerClient(name, address_, withToken(options));
  }

  /// A message connection to the server, introduced as `sender` with `token`.
  std::unique_ptr<detail::StreamSocket> introduced(const std::string& sender, const std::string& token = "secret") {
    auto socket = detail::StreamSocket::connect("127.0.0.1", server_->ringPort(), soon());
    detail::introduce(*socket, {detail::StreamChannel::kMessages, 0, token, sender}, soon());
    return socket;
  }

  static void writeBytes(detail::StreamSocket& socket, const std::string& bytes) {
    const iovec part{const_cast<char*>(bytes.data()), bytes.size()};
    socket.writeAll(&part, 1, soon(), "test bytes");
  }

  /// A message frame: the prefix, `header` serialized, then `payload`.
  static std::string frameOf(const wire::MessageHeader& header, const std::string& payload = {}) {
    const std::string serialized = header.SerializeAsString();
    const auto prefix =
        detail::encodeFramePrefix(detail::FrameKind::kMessage, static_cast<uint32_t>(serialized.size()));
    return std::string(prefix.begin(), prefix.end()) + serialized + payload;
  }

  static wire::MessageHeader floatHeader(int64_t elements, const std::string& sender = "node_0") {
    return testing::floatHeader(elements, sender);
  }

  /// Writes `bytes` on a fresh connection of node_0 and expects a refusal that mentions `mentions`.
  void expectRefused(const std::string& bytes, const std::string& mentions) {
    auto socket = introduced("node_0");
    writeBytes(*socket, bytes);
    const std::string refusal = detail::readRefusal(*socket, soon());
    EXPECT_NE(refusal.find(mentions), std::string::npos) << refusal;
    ++expectedRejections_;
  }

  void TearDown() override {
    if (!server_) return;
    const PeerClient honest = client("node_0");
    honest.send(messageOf(99, at::arange(10, at::kFloat)));
    honest.flush();
    const auto received = server_->inbox(MessageKind::kActivation).pop(milliseconds(5000));
    ASSERT_TRUE(received.has_value()) << "the server stopped serving after hostile input";
    EXPECT_EQ(received->id, 99u);
    EXPECT_TRUE(at::equal(received->tensors.at(0).tensor, at::arange(10, at::kFloat)));
    EXPECT_EQ(server_->rejectedMessages(), expectedRejections_);
    EXPECT_EQ(server_->inbox(MessageKind::kActivation).size(), 0u);
  }

  std::unique_ptr<PeerServer> server_;
  std::string address_;
  uint64_t expectedRejections_ = 0;
};

TEST_F(DirectConnectionTest, MessagesAndMarkersArriveInTheOrderSent) {
  start();
  const PeerClient sender = client("node_0");
  constexpr int kMessages = 2000;
  std::thread sending([&] {
    for (int i = 0; i < kMessages; ++i) {
      // Large data and one-element markers alternate, as micro-batches and end-of-validation markers do.
      const int64_t size = i % 2 == 0 ? 1 + (i * 7919) % 200000 : 1;
      sender.send(messageOf(static_cast<uint64_t>(i), at::full({size}, static_cast<float>(i))));
      if (i % 10 == 9) sender.send(messageOf(static_cast<uint64_t>(i), at::full({3}, 1.0f), MessageKind::kGradient));
    }
    sender.flush();
  });
  // Gradients have a connection (and an inbox) of their own: each kind keeps its order.
  std::thread gradients([&] {
    for (int i = 9; i < kMessages; i += 10) {
      const auto gradient = server_->inbox(MessageKind::kGradient).pop(milliseconds(10000));
      ASSERT_TRUE(gradient.has_value());
      ASSERT_EQ(gradient->id, static_cast<uint64_t>(i));
    }
  });
  for (int i = 0; i < kMessages; ++i) {
    const auto message = server_->inbox(MessageKind::kActivation).pop(milliseconds(10000));
    ASSERT_TRUE(message.has_value()) << "message " << i << " did not arrive";
    ASSERT_EQ(message->id, static_cast<uint64_t>(i));
    ASSERT_EQ(message->tensors.at(0).tensor[0].item<float>(), static_cast<float>(i));
  }
  gradients.join();
  sending.join();
}

TEST_F(DirectConnectionTest, AFullInboxStopsTheSenderThroughTcpUntilTheConsumerDrainsIt) {
  TransportOptions options;
  options.inboxCapacity = 1;
  start(options);
  const PeerClient sender = client("node_0");
  constexpr int kMessages = 32;  // 128 MiB: far more than the sockets' buffers hold
  std::atomic<int> sent{0};
  std::thread sending([&] {
    for (int i = 0; i < kMessages; ++i) {
      sender.send(messageOf(static_cast<uint64_t>(i), at::full({1 << 20}, static_cast<float>(i))));
      ++sent;
    }
    sender.flush();
  });
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_LT(sent.load(), kMessages) << "the sender did not wait for room in the inbox";
  EXPECT_EQ(server_->inbox(MessageKind::kActivation).size(), 1u);
  for (int i = 0; i < kMessages; ++i) {
    const auto message = server_->inbox(MessageKind::kActivation).pop(milliseconds(10000));
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->id, static_cast<uint64_t>(i));
  }
  sending.join();
  EXPECT_EQ(sent.load(), kMessages);
}

TEST_F(DirectConnectionTest, ASenderStuckOnAFullInboxTimesOutAndLeavesNoHalfMessageOrSlot) {
  TransportOptions options;
  options.inboxCapacity = 1;
  start(options);
  TransportOptions hastyOptions;
  hastyOptions.deadline = milliseconds(300);
  const PeerClient hasty = client("node_0", hastyOptions);
  const auto started = Clock::now();
  try {
    for (int i = 0; i < 64; ++i) hasty.send(messageOf(static_cast<uint64_t>(i), at::ones({1 << 20})));
    FAIL() << "64 messages of 4 MiB fitted into one inbox slot and the sockets' buffers";
  } catch (const TimeoutError& error) {
    EXPECT_NE(std::string(error.what()).find("stopped reading"), std::string::npos) << error.what();
  }
  EXPECT_LT(Clock::now() - started, milliseconds(5000));
  // What the hasty sender wrote completely is delivered, in order; its last message was cut short and is not.
  uint64_t next = 0;
  while (auto message = server_->inbox(MessageKind::kActivation).pop(milliseconds(1000))) {
    EXPECT_EQ(message->id, next++);
    EXPECT_EQ(message->tensors.at(0).tensor.numel(), 1 << 20);
  }
  EXPECT_GE(next, 1u);
}

TEST_F(DirectConnectionTest, AServerWithoutDirectConnectionsGetsPipelineMessagesOverGrpc) {
  TransportOptions options;
  options.ringPort = TransportOptions::kNoRingConnections;
  start(options);
  EXPECT_EQ(server_->ringPort(), 0);
  const PeerClient sender = client("node_0");
  sender.send(messageOf(1, at::ones({5})));
  sender.flush();
  EXPECT_TRUE(server_->inbox(MessageKind::kActivation).pop(milliseconds(5000)).has_value());
}

TEST_F(DirectConnectionTest, AWrongTokenIsRefusedAtTheHello) {
  start();
  try {
    introduced("node_0", "guess");
    FAIL() << "a wrong token was accepted";
  } catch (const AuthenticationError& error) {
    EXPECT_NE(std::string(error.what()).find("missing or wrong job token"), std::string::npos) << error.what();
  }
  TransportOptions wrong;
  wrong.authToken = "guess";
  EXPECT_THROW(PeerClient("node_0", address_, wrong).send(messageOf(1, at::ones({2}))), AuthenticationError);
}

TEST_F(DirectConnectionTest, JunkBytesAfterTheHelloAreRefused) {
  start();
  expectRefused("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "not a ravnest frame");
}

TEST_F(DirectConnectionTest, AnOversizedHeaderLengthIsRefused) {
  start();
  const auto prefix = detail::encodeFramePrefix(detail::FrameKind::kMessage, 0x7fffffff);
  expectRefused(std::string(prefix.begin(), prefix.end()), "MessageHeader may have");
}

TEST_F(DirectConnectionTest, GarbageInsteadOfAHeaderIsRefused) {
  start();
  const auto prefix = detail::encodeFramePrefix(detail::FrameKind::kMessage, 8);
  expectRefused(std::string(prefix.begin(), prefix.end()) + std::string(8, '\xff'), "not a valid MessageHeader");
}

TEST_F(DirectConnectionTest, AHugeDeclaredShapeIsRefusedBeforeAnyAllocation) {
  start();
  wire::MessageHeader header = floatHeader(1);
  auto* tensor = header.mutable_tensors(0);
  tensor->clear_shape();
  tensor->add_shape(int64_t{1} << 40);
  tensor->add_shape(int64_t{1} << 40);
  tensor->set_byte_count(~uint64_t{0} >> 1);
  expectRefused(frameOf(header), "shape");
}

TEST_F(DirectConnectionTest, AFrameClaimingAnotherSenderIsRefused) {
  start();
  expectRefused(frameOf(floatHeader(4, "node_2"), std::string(16, '\0')), "claims to come from 'node_2'");
}

TEST_F(DirectConnectionTest, ARingChunkOnAMessageConnectionIsRefused) {
  start();
  wire::MessageHeader header = floatHeader(4);
  header.set_kind(wire::RING_CHUNK);
  expectRefused(frameOf(header, std::string(16, '\0')), "ring connections");
}

TEST_F(DirectConnectionTest, ATruncatedFrameDeliversNothing) {
  start();
  auto socket = introduced("node_0");
  writeBytes(*socket, frameOf(floatHeader(1000), std::string(100, '\0')));  // 100 of 4000 payload bytes
  socket.reset();
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(server_->inbox(MessageKind::kActivation).size(), 0u);
}

TEST_F(DirectConnectionTest, HalfOpenConnectionsHoldNothingUp) {
  start();
  // One never says hello, one says hello and then nothing: honest peers are served meanwhile, and the server
  // still shuts down at once.
  auto silent = detail::StreamSocket::connect("127.0.0.1", server_->ringPort(), soon());
  auto idle = introduced("node_0");
  const auto sending = Clock::now();
  const PeerClient honest = client("node_2");
  honest.send(messageOf(5, at::ones({3})));
  honest.flush();
  const auto received = server_->inbox(MessageKind::kActivation).pop(milliseconds(5000));
  ASSERT_TRUE(received.has_value());
  EXPECT_EQ(received->sender, "node_2");
  EXPECT_LT(Clock::now() - sending, milliseconds(1000)) << "a connection that never said hello held up others";
  const auto stopping = Clock::now();
  server_->shutdown();
  EXPECT_LT(Clock::now() - stopping, milliseconds(3000));
  server_.reset();  // nothing left to serve the teardown's honest peer
}

}  // namespace
}  // namespace ravnest
