#include "comm/stream/stream_wire.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "ravnest.pb.h"
#include "ravnest/common/error.h"
#include "tensor/wire_header.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ring frames are written in host order, little-endian");

namespace ravnest::detail {
namespace {

constexpr uint32_t kHelloMagic = 0x48525652;      // "RVRH"
constexpr uint32_t kAcceptedMagic = 0x4b4f5652;   // "RVOK"
constexpr uint32_t kRefusedMagic = 0x4f4e5652;    // "RVNO"
constexpr uint32_t kForbiddenMagic = 0x504e5652;  // "RVNP"
constexpr uint32_t kSyncedMagic = 0x4b415652;     // "RVAK"
constexpr uint32_t kChunkMagic = 0x46435652;      // "RVCF"
constexpr size_t kHelloFixedBytes = 20;
constexpr size_t kVerdictFixedBytes = 8;

template <typename Value>
void put(uint8_t* out, size_t offset, Value value) {
  std::memcpy(out + offset, &value, sizeof(value));
}

template <typename Value>
Value get(const uint8_t* in, size_t offset) {
  Value value;
  std::memcpy(&value, in + offset, sizeof(value));
  return value;
}

}  // namespace

void introduce(StreamSocket& socket, const StreamHello& hello, SteadyTime deadline) {
  RAVNEST_CHECK(hello.token.size() <= kMaxHelloField && hello.sender.size() <= kMaxHelloField,
                "ring hello: the job token and the node name must be at most ", kMaxHelloField, " bytes");
  uint8_t fixed[kHelloFixedBytes] = {};
  put(fixed, 0, kHelloMagic);
  put(fixed, 4, kStreamWireVersion);
  put(fixed, 6, static_cast<uint16_t>(hello.channel));
  put(fixed, 8, hello.ringId);
  put(fixed, 12, static_cast<uint32_t>(hello.token.size()));
  put(fixed, 16, static_cast<uint32_t>(hello.sender.size()));
  const iovec parts[] = {{fixed, sizeof(fixed)},
                         {const_cast<char*>(hello.token.data()), hello.token.size()},
                         {const_cast<char*>(hello.sender.data()), hello.sender.size()}};
  const std::string what = hello.channel == StreamChannel::kRing ? "ring " + std::to_string(hello.ringId) + "'s hello"
                                                                 : std::string("the message connection's hello");
  socket.writeAll(parts, 3, deadline, what);
  uint8_t verdict[kVerdictFixedBytes];
  socket.readAll(verdict, sizeof(verdict), deadline, "the answer to " + what);
  if (get<uint32_t>(verdict, 0) == kAcceptedMagic) return;
  RAVNEST_CHECK_AS(ProtocolError,
                   get<uint32_t>(verdict, 0) == kRefusedMagic || get<uint32_t>(verdict, 0) == kForbiddenMagic,
                   socket.peer(), " answered the hello with bytes that are not a verdict: is it a ravnest node?");
  const uint32_t length = std::min(get<uint32_t>(verdict, 4), kMaxHelloField);
  std::string reason(length, '\0');
  socket.readAll(reason.data(), reason.size(), deadline, "the answer to " + what);
  if (reason.find("job token") != std::string::npos) throw AuthenticationError(reason);
  throw PermissionError(reason);
}

StreamHello readHello(StreamSocket& socket, SteadyTime deadline) {
  uint8_t fixed[kHelloFixedBytes];
  socket.readAll(fixed, sizeof(fixed), deadline, "a ring hello");
  RAVNEST_CHECK_AS(ProtocolError, get<uint32_t>(fixed, 0) == kHelloMagic, "direct connection from ", socket.peer(),
                   ": the first bytes are not a ravnest hello");
  RAVNEST_CHECK_AS(ProtocolError, get<uint16_t>(fixed, 4) == kStreamWireVersion, "direct connection from ",
                   socket.peer(), ": wire version ", get<uint16_t>(fixed, 4), ", this node speaks ", kStreamWireVersion,
                   " (run the same ravnest version on every node)");
  const auto channel = get<uint16_t>(fixed, 6);
  RAVNEST_CHECK_AS(ProtocolError, channel <= static_cast<uint16_t>(StreamChannel::kMessages), "direct connection from ",
                   socket.peer(), ": unknown channel ", channel);
  const auto tokenLength = get<uint32_t>(fixed, 12);
  const auto senderLength = get<uint32_t>(fixed, 16);
  RAVNEST_CHECK_AS(ProtocolError, tokenLength <= kMaxHelloField && senderLength <= kMaxHelloField,
                   "direct connection from ", socket.peer(), ": a hello field is longer than ", kMaxHelloField,
                   " bytes");
  StreamHello hello;
  hello.channel = static_cast<StreamChannel>(channel);
  hello.ringId = get<uint32_t>(fixed, 8);
  hello.token.resize(tokenLength);
  hello.sender.resize(senderLength);
  socket.readAll(hello.token.data(), tokenLength, deadline, "a ring hello");
  socket.readAll(hello.sender.data(), senderLength, deadline, "a ring hello");
  return hello;
}

void writeVerdict(StreamSocket& socket, const std::string& refusal, SteadyTime deadline, bool permission) noexcept {
  const std::string reason = refusal.substr(0, kMaxHelloField);
  uint8_t fixed[kVerdictFixedBytes];
  put(fixed, 0, refusal.empty() ? kAcceptedMagic : permission ? kForbiddenMagic : kRefusedMagic);
  put(fixed, 4, static_cast<uint32_t>(reason.size()));
  const iovec parts[] = {{fixed, sizeof(fixed)}, {const_cast<char*>(reason.data()), reason.size()}};
  try {
    socket.writeAll(parts, 2, deadline, "a ring verdict");
  } catch (const std::exception&) {
    // The peer is gone; there is no one left to tell.
  }
}

std::string readRefusal(StreamSocket& socket, SteadyTime deadline) noexcept {
  uint8_t fixed[kVerdictFixedBytes];
  size_t got = 0;
  while (got < sizeof(fixed)) {
    const size_t more = socket.readSome(fixed + got, sizeof(fixed) - got, deadline);
    if (more == 0) return {};
    got += more;
  }
  if (get<uint32_t>(fixed, 0) != kRefusedMagic && get<uint32_t>(fixed, 0) != kForbiddenMagic) return {};
  std::string reason(std::min(get<uint32_t>(fixed, 4), kMaxHelloField), '\0');
  got = 0;
  while (got < reason.size()) {
    const size_t more = socket.readSome(reason.data() + got, reason.size() - got, deadline);
    if (more == 0) break;
    got += more;
  }
  reason.resize(got);
  return reason;
}

MessageVerdict readMessageVerdict(StreamSocket& socket, SteadyTime deadline) {
  uint8_t fixed[kVerdictFixedBytes];
  socket.readAll(fixed, sizeof(fixed), deadline, "the answer to a sync frame");
  const auto magic = get<uint32_t>(fixed, 0);
  if (magic == kSyncedMagic) return {true, false, {}};
  RAVNEST_CHECK_AS(ProtocolError, magic == kRefusedMagic || magic == kForbiddenMagic, socket.peer(),
                   " answered a sync frame with bytes that are not a verdict");
  MessageVerdict verdict{false, magic == kForbiddenMagic,
                         std::string(std::min(get<uint32_t>(fixed, 4), kMaxHelloField), '\0')};
  socket.readAll(verdict.reason.data(), verdict.reason.size(), deadline, "the reason of a refusal");
  return verdict;
}

void throwRefusal(const MessageVerdict& verdict, const std::string& prefix) {
  throw ProtocolError(prefix +
                      (verdict.permission ? "the peer refused the message: " : "the peer rejected the message: ") +
                      verdict.reason);
}

std::array<uint8_t, kFramePrefixBytes> encodeFramePrefix(FrameKind kind, uint32_t length) {
  std::array<uint8_t, kFramePrefixBytes> bytes{};
  put(bytes.data(), 0, static_cast<uint32_t>(kind));
  put(bytes.data(), 4, length);
  return bytes;
}

std::pair<FrameKind, uint32_t> decodeFramePrefix(const std::array<uint8_t, kFramePrefixBytes>& bytes) {
  const auto magic = get<uint32_t>(bytes.data(), 0);
  RAVNEST_CHECK_AS(
      ProtocolError,
      magic == static_cast<uint32_t>(FrameKind::kMessage) || magic == static_cast<uint32_t>(FrameKind::kSync),
      "message connection: the bytes are not a ravnest frame (bad magic)");
  return {static_cast<FrameKind>(magic), get<uint32_t>(bytes.data(), 4)};
}

void writeSyncAnswer(StreamSocket& socket, SteadyTime deadline) {
  uint8_t fixed[kVerdictFixedBytes] = {};
  put(fixed, 0, kSyncedMagic);
  const iovec part{fixed, sizeof(fixed)};
  socket.writeAll(&part, 1, deadline, "the answer to a sync frame");
}

std::array<uint8_t, kChunkHeaderBytes> encodeChunkHeader(const ChunkFrameHeader& header) {
  wire::TensorHeader wireTensor;
  toWireHeader(header.meta, "", &wireTensor);
  std::array<uint8_t, kChunkHeaderBytes> bytes{};
  put(bytes.data(), 0, kChunkMagic);
  put(bytes.data(), 4, header.tag.ringId);
  put(bytes.data(), 8, header.tag.round);
  bytes[16] = static_cast<uint8_t>(header.tag.phase);
  bytes[17] = static_cast<uint8_t>(wireTensor.dtype());
  bytes[18] = static_cast<uint8_t>(wireTensor.codec());
  put(bytes.data(), 20, header.tag.step);
  put(bytes.data(), 24, header.tag.segment);
  put(bytes.data(), 28, static_cast<uint32_t>(header.meta.blockSize));
  put(bytes.data(), 32, static_cast<uint64_t>(header.meta.numel()));
  put(bytes.data(), 40, static_cast<uint64_t>(header.meta.byteCount));
  return bytes;
}

ChunkFrameHeader decodeChunkHeader(const std::array<uint8_t, kChunkHeaderBytes>& bytes) {
  const uint8_t* in = bytes.data();
  RAVNEST_CHECK_AS(ProtocolError, get<uint32_t>(in, 0) == kChunkMagic && in[19] == 0,
                   "ring chunk: the frame header is corrupt (bad magic)");
  const auto numel = get<uint64_t>(in, 32);
  RAVNEST_CHECK_AS(ProtocolError, numel <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                   "ring chunk: element count ", numel, " is out of range");
  wire::TensorHeader wireTensor;
  wireTensor.set_name("chunk");
  wireTensor.set_dtype(static_cast<wire::DType>(in[17]));
  wireTensor.set_codec(static_cast<wire::Codec>(in[18]));
  wireTensor.add_shape(static_cast<int64_t>(numel));
  wireTensor.set_block_size(get<uint32_t>(in, 28));
  wireTensor.set_byte_count(get<uint64_t>(in, 40));
  ChunkFrameHeader header;
  header.tag =
      RingTag{get<uint32_t>(in, 4), get<uint64_t>(in, 8), in[16], get<uint32_t>(in, 20), get<uint32_t>(in, 24)};
  header.meta = fromWireHeader(wireTensor);
  validateMeta(header.meta);
  return header;
}

}  // namespace ravnest::detail
