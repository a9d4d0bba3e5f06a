// Ring connections played by a hostile or failing previous member: a real RingAllReduce on 127.0.0.1 receives
// from a raw socket that this test writes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <memory>
#include <thread>

#include "comm/stream/stream_socket.h"
#include "comm/stream/stream_wire.h"
#include "ravnest/collectives/ring_all_reduce.h"
#include "ravnest/common/error.h"

namespace ravnest {
namespace {

using namespace std::chrono_literals;
using State = std::unordered_map<std::string, at::Tensor>;

detail::SteadyTime soon() {
  return std::chrono::steady_clock::now() + 5s;
}

void writeFrame(detail::StreamSocket& socket, const RingTag& tag, const at::Tensor& values, int64_t sendBytes = -1) {
  const EncodedTensor encoded = encodeTensor(values);
  const auto header = detail::encodeChunkHeader({tag, encoded.meta});
  const size_t payload = sendBytes < 0 ? static_cast<size_t>(encoded.meta.byteCount) : static_cast<size_t>(sendBytes);
  const iovec parts[] = {{const_cast<uint8_t*>(header.data()), header.size()}, {encoded.bytes.data_ptr(), payload}};
  socket.writeAll(parts, 2, soon(), "test frame");
}

void expectMentions(const std::exception& error, const std::string& text) {
  EXPECT_NE(std::string(error.what()).find(text), std::string::npos) << error.what();
}

/// Expects `failure` to hold an `ErrorType` whose message mentions `text`.
template <typename ErrorType>
void expectFailure(const std::exception_ptr& failure, const std::string& text) {
  ASSERT_TRUE(failure) << "expected a failure mentioning " << text;
  try {
    std::rethrow_exception(failure);
  } catch (const ErrorType& error) {
    expectMentions(error, text);
  } catch (const std::exception& error) {
    ADD_FAILURE() << "another error: " << error.what();
  }
}

/// Node 0 of a ring of two (ring 5, tensor "w" of 4 elements, chunks only from node_1) running one round on a
/// thread. It sends to a bare server that takes messages, and receives over a ring connection the test opens.
class PreviousMemberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TransportOptions transport;
    transport.authToken = "secret";
    server0_ = std::make_unique<PeerServer>("node_0", "127.0.0.1:0", transport);
    TransportOptions messages = transport;
    messages.ringPort = TransportOptions::kNoRingConnections;
    server1_ = std::make_unique<PeerServer>("node_1", "127.0.0.1:0", messages);
    RingAllReduceOptions options;
    options.transport = transport;
    options.chunkDeadline = 10s;
    reducer_ = std::make_unique<RingAllReduce>(
        *server0_, "node_0", 0, 2,
        std::vector<RingSpec>{{5, {"w"}, {4}, "127.0.0.1:" + std::to_string(server1_->port()), "", "node_1"}},
        options);
    ringPort_ = PeerClient("node_1", "127.0.0.1:" + std::to_string(server0_->port()), transport).ringPort();
  }

  std::unique_ptr<detail::StreamSocket> connect(const std::string& token, const std::string& sender,
                                                uint32_t ring = 5) {
    auto socket = detail::StreamSocket::connect("127.0.0.1", ringPort_, soon());
    detail::introduce(*socket, {detail::StreamChannel::kRing, ring, token, sender}, soon());
    return socket;
  }

  /// Starts node 0's round; `failure` holds what it threw once joined.
  void startRound() {
    round_ = std::thread([this] {
      try {
        reducer_->averageInPlace(state_);
      } catch (...) {
        failure_ = std::current_exception();
      }
    });
  }

  /// Joins the round and returns how long it took since `start`.
  std::chrono::milliseconds finishRound(std::chrono::steady_clock::time_point start) {
    round_.join();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  }

  std::unique_ptr<PeerServer> server0_, server1_;
  std::unique_ptr<RingAllReduce> reducer_;
  int ringPort_ = 0;
  State state_{{"w", at::ones({4})}};
  std::thread round_;
  std::exception_ptr failure_;
};

TEST_F(PreviousMemberTest, TheNodeAdvertisesItsRingPort) {
  EXPECT_GT(ringPort_, 0);
  EXPECT_EQ(ringPort_, server0_->ringPort());
  EXPECT_NE(ringPort_, server0_->port());
  TransportOptions withToken;
  withToken.authToken = "secret";
  EXPECT_EQ(PeerClient("node_0", "127.0.0.1:" + std::to_string(server1_->port()), withToken).ringPort(), 0)
      << "a server without ring connections must say so";
}

TEST(RingConnectionTest, AHelloBeforeTheAllReduceExistsIsAnsweredOnceItDoes) {
  PeerServer server("node_0", "127.0.0.1:0");
  std::exception_ptr failure;
  std::chrono::steady_clock::time_point answered;
  std::thread previous([&] {
    try {
      auto socket = detail::StreamSocket::connect("127.0.0.1", server.ringPort(), soon());
      detail::introduce(*socket, {detail::StreamChannel::kRing, 5, "", "node_1"}, soon());
      answered = std::chrono::steady_clock::now();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  std::this_thread::sleep_for(300ms);
  const auto created = std::chrono::steady_clock::now();
  RingAllReduce reducer(server, "node_0", 0, 2, {RingSpec{5, {"w"}, {4}, "127.0.0.1:1", "", "node_1"}});
  previous.join();
  ASSERT_FALSE(failure);
  EXPECT_GE(answered, created) << "the hello was answered before the all-reduce that decides it existed";
  EXPECT_THROW(RingAllReduce(server, "node_0", 0, 2, {RingSpec{6, {"v"}, {4}, "127.0.0.1:1"}}), InvalidArgumentError)
      << "a second all-reduce on one server would take the first one's connections";
}

TEST_F(PreviousMemberTest, ConnectionsWithoutTheTokenFromOutsideTheRingOrForUnknownRingsAreRefused) {
  try {
    connect("guess", "node_1");
    FAIL() << "a connection with the wrong token was accepted";
  } catch (const AuthenticationError& error) {
    expectMentions(error, "missing or wrong job token");
  }
  try {
    connect("secret", "node_7");
    FAIL() << "a connection from outside the ring was accepted";
  } catch (const PermissionError& error) {
    expectMentions(error, "takes chunks of ring 5 only from node_1, not from 'node_7'");
  }
  try {
    connect("secret", "node_1", 9);
    FAIL() << "a connection for an unknown ring was accepted";
  } catch (const PermissionError& error) {
    expectMentions(error, "ring 9 is not a ring of node node_0");
  }
  EXPECT_NO_THROW(connect("secret", "node_1"));
}

TEST_F(PreviousMemberTest, AChunkSentAsAMessageIsRefusedWhileTheNodeTakesRingConnections) {
  TransportOptions transport;
  transport.authToken = "secret";
  Message message;
  message.kind = MessageKind::kRingChunk;
  message.ring = RingTag{5, 0, 0, 0, 0};
  message.tensors.push_back({"chunk", at::ones({2})});  // a well-formed first chunk from node_1
  try {
    PeerClient("node_1", "127.0.0.1:" + std::to_string(server0_->port()), transport).send(message);
    FAIL() << "a ring chunk came in as a message past the ring connections";
  } catch (const ProtocolError& error) {
    expectMentions(error, "takes ring chunks over ring connections");
  }
  EXPECT_EQ(server0_->inbox(MessageKind::kRingChunk).size(), 0u);
}

TEST_F(PreviousMemberTest, BytesThatAreNotAHelloAreRefused) {
  auto socket = detail::StreamSocket::connect("127.0.0.1", ringPort_, soon());
  const std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  const iovec part{const_cast<char*>(junk.data()), junk.size()};
  socket->writeAll(&part, 1, soon(), "junk");
  const std::string refusal = detail::readRefusal(*socket, soon());
  EXPECT_NE(refusal.find("not a ravnest hello"), std::string::npos) << refusal;
}

TEST_F(PreviousMemberTest, AFrameOfAnotherRoundIsRejectedAndTheSenderToldWhy) {
  auto socket = connect("secret", "node_1");
  startRound();
  writeFrame(*socket, RingTag{5, 7, 0, 0, 0}, at::ones({2}));
  const std::string refusal = detail::readRefusal(*socket, soon());
  finishRound(std::chrono::steady_clock::now());
  EXPECT_NE(refusal.find("expected ring 5 round 0 reduce-scatter step 0 segment 0, got ring 5 round 7"),
            std::string::npos)
      << refusal;
  expectFailure<ProtocolError>(failure_, "got ring 5 round 7");
  EXPECT_TRUE(at::equal(state_["w"], at::ones({4}))) << "a rejected chunk must leave the tensors as they were";
}

TEST_F(PreviousMemberTest, AFrameOfTheWrongSizeIsRejected) {
  auto socket = connect("secret", "node_1");
  startRound();
  writeFrame(*socket, RingTag{5, 0, 0, 0, 0}, at::ones({3}));
  finishRound(std::chrono::steady_clock::now());
  expectFailure<ProtocolError>(failure_, "expects 2 floating-point values, got 3");
}

TEST_F(PreviousMemberTest, NaNInAReduceScatterSegmentIsRejectedAndTheTensorsStayAsTheyWere) {
  auto socket = connect("secret", "node_1");
  startRound();
  writeFrame(*socket, RingTag{5, 0, 0, 0, 0}, at::full({2}, std::numeric_limits<float>::quiet_NaN()));
  finishRound(std::chrono::steady_clock::now());
  expectFailure<ProtocolError>(failure_, "carries NaN or Inf");
  EXPECT_TRUE(at::equal(state_["w"], at::ones({4})));
}

TEST_F(PreviousMemberTest, APreviousMemberThatDiesMidSegmentGivesANetworkErrorAtOnce) {
  auto socket = connect("secret", "node_1");
  startRound();
  const auto start = std::chrono::steady_clock::now();
  writeFrame(*socket, RingTag{5, 0, 0, 0, 0}, at::ones({2}), 4);  // the header and half the payload
  socket.reset();
  const auto took = finishRound(start);
  expectFailure<NetworkError>(failure_, "closed the connection");
  EXPECT_LT(took, 3s) << "the deadline is 10 s: a closed connection must be noticed at once";
}

TEST_F(PreviousMemberTest, AReconnectingPreviousMemberIsTakenForTheNextRound) {
  auto first = connect("secret", "node_1");
  startRound();
  first.reset();  // dies before sending anything
  finishRound(std::chrono::steady_clock::now());
  ASSERT_TRUE(failure_);
  failure_ = nullptr;
  // Round 1 over a fresh connection. Reduce-scatter: node 0 receives chunk 1 (elements 2..3) and sends the sum on as all-gather step 0; then it
  // receives chunk 0 in all-gather.
  auto second = connect("secret", "node_1");
  startRound();
  writeFrame(*second, RingTag{5, 1, 0, 0, 0}, at::full({2}, 3.0f));
  writeFrame(*second, RingTag{5, 1, 1, 0, 0}, at::full({2}, 5.0f));
  finishRound(std::chrono::steady_clock::now());
  EXPECT_FALSE(failure_);
  EXPECT_TRUE(at::equal(state_["w"], at::tensor({5.0f, 5.0f, 2.0f, 2.0f}))) << state_["w"];
}

}  // namespace
}  // namespace ravnest
