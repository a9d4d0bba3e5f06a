#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "comm/stream/stream_socket.h"
#include "ravnest/comm/message.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// What travels on a direct connection (docs/wire_protocol.md, "Direct connections"). All integers little-endian.
///
/// The node that sends opens the connection and writes a hello: magic "RVRH", version, the channel (ring chunks of
/// one ring, or pipeline messages), ring id, then the job token and its node name, each after its length. The
/// receiver answers with a verdict: magic "RVOK", or magic "RVNO" (or "RVNP": refused permission), a length and
/// the reason it refused. Then the sender writes frames: on a ring channel chunk frames, each a fixed 48-byte
/// header (ring tag, dtype, codec, block size, element and byte counts) and the encoded bytes; on a message
/// channel message frames (magic "RVMF", header length, a serialized MessageHeader, the payload) and sync frames
/// ("RVSY", answered "RVAK" once every earlier message is in the receiver's inbox). A receiver that rejects a
/// frame writes a refusal back before it closes, so the sender can say why.

constexpr uint16_t kStreamWireVersion = 2;
/// Longest job token and node name a hello may carry.
constexpr uint32_t kMaxHelloField = 4096;
constexpr size_t kChunkHeaderBytes = 48;

/// What a connection carries after its hello.
enum class StreamChannel : uint16_t {
  kRing = 0,      // chunks of ring `ringId`, from the ring's previous member
  kMessages = 1,  // pipeline messages (activations, gradients), in the order the sender wrote them
};

struct StreamHello {
  StreamChannel channel = StreamChannel::kRing;
  uint32_t ringId = 0;
  std::string token;
  std::string sender;
};

/// Writes `hello` and waits for the receiver's verdict. Throws AuthenticationError when the receiver refused our
/// token, PermissionError when it refused us for that ring, NetworkError or TimeoutError for the connection.
void introduce(StreamSocket& socket, const StreamHello& hello, SteadyTime deadline);
/// Reads a hello. Throws ProtocolError when the bytes are not one.
StreamHello readHello(StreamSocket& socket, SteadyTime deadline);
/// Answers a hello, or refuses a frame: accepted when `refusal` is empty; `permission` marks a refusal of who
/// the sender is rather than of what it sent. Best effort: a peer that left is not an error.
void writeVerdict(StreamSocket& socket, const std::string& refusal, SteadyTime deadline,
                  bool permission = false) noexcept;
/// The reason of a refusal the peer wrote before it closed, or "" when there is none.
std::string readRefusal(StreamSocket& socket, SteadyTime deadline) noexcept;

/// What a receiver wrote back on a message channel, as the sender reads it.
struct MessageVerdict {
  bool accepted = false;    // "RVAK": every message before the sync frame is in the receiver's inbox
  bool permission = false;  // refused: who the sender is ("RVNP"), not what it sent ("RVNO")
  std::string reason;
};
/// Reads the receiver's answer to a sync frame. Throws ProtocolError for bytes that are not one, NetworkError or
/// TimeoutError for the connection.
MessageVerdict readMessageVerdict(StreamSocket& socket, SteadyTime deadline);
/// Throws the refusal a receiver wrote as a ProtocolError: `prefix`, then what the receiver said.
[[noreturn]] void throwRefusal(const MessageVerdict& verdict, const std::string& prefix);

/// Every frame of a message channel starts with 8 bytes: a magic and a length.
constexpr size_t kFramePrefixBytes = 8;
enum class FrameKind : uint32_t {
  kMessage = 0x464d5652,  // "RVMF": the length of the serialized MessageHeader that follows, then the payload
  kSync = 0x59535652,     // "RVSY": length 0; the receiver answers "RVAK"
};
std::array<uint8_t, kFramePrefixBytes> encodeFramePrefix(FrameKind kind, uint32_t length);
/// The kind and length of a frame prefix. Throws ProtocolError for an unknown magic.
std::pair<FrameKind, uint32_t> decodeFramePrefix(const std::array<uint8_t, kFramePrefixBytes>& bytes);
/// The receiver's answer to a sync frame.
void writeSyncAnswer(StreamSocket& socket, SteadyTime deadline);

/// The header of one chunk frame: where the segment belongs and how its bytes are encoded.
struct ChunkFrameHeader {
  RingTag tag;
  TensorMeta meta;  // shape is {element count}
};

std::array<uint8_t, kChunkHeaderBytes> encodeChunkHeader(const ChunkFrameHeader& header);
/// Throws ProtocolError for a bad magic, an unknown dtype or codec, or a meta validateMeta refuses.
ChunkFrameHeader decodeChunkHeader(const std::array<uint8_t, kChunkHeaderBytes>& bytes);

}  // namespace ravnest::detail
