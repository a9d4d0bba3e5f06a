#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "comm/ring_socket.h"
#include "ravnest/comm/message.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// What travels on a ring connection (docs/wire_protocol.md, "Ring connections"). All integers little-endian.
///
/// The member that sends opens the connection and writes a hello: magic "RVRH", version, ring id, then the job
/// token and its node name, each after its length. The receiver answers with a verdict: magic "RVOK", or magic
/// "RVNO", a length and the reason it refused. Then the sender writes chunk frames, each a fixed 48-byte header
/// (ring tag, dtype, codec, block size, element and byte counts) and the encoded bytes. A receiver that rejects
/// a frame writes an "RVNO" verdict back before it closes, so the sender can say why.

constexpr uint16_t kRingWireVersion = 1;
/// Longest job token and node name a hello may carry.
constexpr uint32_t kMaxHelloField = 4096;
constexpr size_t kChunkHeaderBytes = 48;

struct RingHello {
  uint32_t ringId = 0;
  std::string token;
  std::string sender;
};

/// Writes `hello` and waits for the receiver's verdict. Throws AuthenticationError when the receiver refused our
/// token, PermissionError when it refused us for that ring, NetworkError or TimeoutError for the connection.
void introduce(RingSocket& socket, const RingHello& hello, SteadyTime deadline);
/// Reads a hello. Throws ProtocolError when the bytes are not one.
RingHello readHello(RingSocket& socket, SteadyTime deadline);
/// Answers a hello: accepted when `refusal` is empty. Best effort: a peer that left is not an error.
void writeVerdict(RingSocket& socket, const std::string& refusal, SteadyTime deadline) noexcept;
/// The reason of an "RVNO" verdict the peer wrote before it closed, or "" when there is none.
std::string readRefusal(RingSocket& socket, SteadyTime deadline) noexcept;

/// The header of one chunk frame: where the segment belongs and how its bytes are encoded.
struct ChunkFrameHeader {
  RingTag tag;
  TensorMeta meta;  // shape is {element count}
};

std::array<uint8_t, kChunkHeaderBytes> encodeChunkHeader(const ChunkFrameHeader& header);
/// Throws ProtocolError for a bad magic, an unknown dtype or codec, or a meta validateMeta refuses.
ChunkFrameHeader decodeChunkHeader(const std::array<uint8_t, kChunkHeaderBytes>& bytes);

}  // namespace ravnest::detail
