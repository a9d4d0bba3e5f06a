// Malformed and hostile Transfer calls, written frame by frame (PeerClient::sendRawFrames): every one must be
// answered with INVALID_ARGUMENT naming the problem, and the server must go on serving honest peers.
#include <ATen/ATen.h>
#include <grpcpp/support/status_code_enum.h>
#include <gtest/gtest.h>

#include <chrono>

#include "comm/wire_headers.h"
#include "ravnest.pb.h"
#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/peer_server.h"

namespace ravnest {
namespace {

using testing::floatHeader;

class HostileInputTest : public ::testing::Test {
 protected:
  /// The final status code and message of a Transfer call made of exactly `frames`.
  std::pair<int, std::string> sendRawFrames(const std::vector<std::string>& frames) {
    TransportOptions options;
    options.deadline = std::chrono::seconds(10);
    return PeerClient("attacker", address_, options).sendRawFrames(frames);
  }

  /// A first frame: the header's length (4 bytes, little-endian), the header, then `payload`.
  static std::string firstFrame(const wire::MessageHeader& header, const std::string& payload = {}) {
    const std::string serialized = header.SerializeAsString();
    std::string frame;
    for (int i = 0; i < 4; ++i) frame.push_back(static_cast<char>((serialized.size() >> (8 * i)) & 0xff));
    return frame + serialized + payload;
  }

  void expectRejected(const std::vector<std::string>& frames, const std::string& mentions) {
    const auto [code, message] = sendRawFrames(frames);
    EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT) << message;
    EXPECT_NE(message.find(mentions), std::string::npos) << message;
    ++expectedRejections_;
  }

  void TearDown() override {
    PeerClient honest("honest", address_);
    Message message;
    message.tensors.push_back({"x", at::arange(10, at::kFloat)});
    honest.send(message);
    const auto received = server_.inbox(MessageKind::kActivation).pop(std::chrono::seconds(5));
    ASSERT_TRUE(received.has_value()) << "the server stopped serving after hostile input";
    EXPECT_EQ(received->sender, "honest");
    EXPECT_TRUE(at::equal(received->tensors.at(0).tensor, at::arange(10, at::kFloat)));
    EXPECT_EQ(server_.rejectedMessages(), expectedRejections_);
    EXPECT_EQ(server_.inbox(MessageKind::kActivation).size(), 0u);
  }

  PeerServer server_{"victim", "127.0.0.1:0"};
  std::string address_ = "127.0.0.1:" + std::to_string(server_.port());
  uint64_t expectedRejections_ = 0;
};

TEST_F(HostileInputTest, AnOversizedHeaderLengthIsRejected) {
  expectRejected({std::string("\xff\xff\xff\x7f garbage", 12)}, "MessageHeader may have");
}

TEST_F(HostileInputTest, GarbageInsteadOfAHeaderIsRejected) {
  expectRejected({std::string("\x08\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff", 12)}, "not a valid MessageHeader");
}

TEST_F(HostileInputTest, AFrameShorterThanItsHeaderIsRejected) {
  expectRejected({std::string("\x40\0\0\0\x08\x01", 6)}, "not a valid MessageHeader");
}

TEST_F(HostileInputTest, AStreamWithoutAHeaderIsRejected) {
  expectRejected({}, "ended before");
}

TEST_F(HostileInputTest, ATruncatedPayloadIsRejected) {
  expectRejected({firstFrame(floatHeader(25)), std::string(50, 'a')}, "truncated stream");
}

TEST_F(HostileInputTest, MorePayloadThanDeclaredIsRejected) {
  expectRejected({firstFrame(floatHeader(25), std::string(60, 'a')), std::string(90, 'a')}, "more bytes");
}

TEST_F(HostileInputTest, AWrongByteCountIsRejected) {
  wire::MessageHeader header = floatHeader(25);
  header.mutable_tensors(0)->set_byte_count(99);
  expectRejected({firstFrame(header, std::string(99, 'a'))}, "byte_count");
}

TEST_F(HostileInputTest, AnUnknownDTypeIsRejected) {
  wire::MessageHeader header = floatHeader(4);
  header.mutable_tensors(0)->set_dtype(static_cast<wire::DType>(99));
  expectRejected({firstFrame(header, std::string(16, 'a'))}, "dtype");
}

TEST_F(HostileInputTest, AHugeDeclaredShapeIsRejectedBeforeAnyAllocation) {
  wire::MessageHeader header = floatHeader(1);
  auto* tensor = header.mutable_tensors(0);
  tensor->clear_shape();
  tensor->add_shape(int64_t{1} << 40);
  tensor->add_shape(int64_t{1} << 40);
  tensor->set_byte_count(~uint64_t{0} >> 1);
  expectRejected({firstFrame(header)}, "shape");
}

TEST_F(HostileInputTest, AnUnknownMessageKindIsRejected) {
  wire::MessageHeader header = floatHeader(1);
  header.set_kind(static_cast<wire::MessageKind>(77));
  expectRejected({firstFrame(header, std::string(4, 'a'))}, "kind");
}

TEST_F(HostileInputTest, TooManyTensorsAreRejected) {
  wire::MessageHeader header;
  header.set_kind(wire::ACTIVATION);
  for (int i = 0; i < 5000; ++i) {
    auto* tensor = header.add_tensors();
    tensor->set_dtype(wire::UINT8);
    tensor->set_codec(wire::CODEC_NONE);
  }
  expectRejected({firstFrame(header)}, "tensors");
}

}  // namespace
}  // namespace ravnest
