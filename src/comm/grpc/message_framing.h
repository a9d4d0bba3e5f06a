#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <string>
#include <vector>

#include "comm/grpc/slice_reader.h"
#include "comm/message_encoding.h"
#include "ravnest.pb.h"
#include "ravnest/comm/message.h"
#include "ravnest/comm/transport_options.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// Largest frame a server accepts; a sender's chunkBytes must stay below it.
constexpr int64_t kMaxFrameBytes = int64_t{64} << 20;

/// Encodes `message` and cuts it into the frames of one Transfer call. The first frame is the header's length
/// (4 bytes, little-endian), the serialized header, then up to `chunkBytes` of payload; later frames carry up to
/// `chunkBytes` of payload each, so a small message is a single frame. Payload slices reference the encoded
/// tensors' memory (no copy; each slice keeps its tensor alive). Throws InvalidArgumentError for tensors the
/// wire cannot carry.
std::vector<grpc::ByteBuffer> frameMessage(const Message& message, CodecKind codec, int64_t chunkBytes);

/// The receiving side of frameMessage's first frame: reads the length prefix and the MessageHeader, leaving
/// `frame` at the first payload byte. Throws ProtocolError when the frame is shorter than its prefix says, the
/// length exceeds kMaxHeaderBytes or the bytes are not a MessageHeader.
wire::MessageHeader readHeaderFrame(SliceReader& frame);

}  // namespace ravnest::detail
