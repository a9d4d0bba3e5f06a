#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ravnest.pb.h"
#include "ravnest/comm/message.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// Largest serialized MessageHeader a server accepts, on either transport.
constexpr int64_t kMaxHeaderBytes = int64_t{1} << 20;

/// A message as both transports put it on the wire: its serialized MessageHeader (kind, sender, id, ring tag and
/// each tensor's name, dtype, shape, codec and byte count), then every tensor's encoded bytes back to back.
struct EncodedMessage {
  std::string header;
  std::vector<at::Tensor> payloads;  // uint8, one per tensor, in the header's order
  int64_t payloadBytes = 0;
};

/// Encodes `message`, compressing floating tensors with `codec`. Uncompressed tensors are not copied: their
/// payloads view the tensors' memory. Throws InvalidArgumentError for tensors the wire cannot carry.
EncodedMessage encodeMessage(const Message& message, CodecKind codec);

wire::MessageKind toWireKind(MessageKind kind);
/// Throws ProtocolError for a kind we do not know.
MessageKind fromWireKind(wire::MessageKind kind);

}  // namespace ravnest::detail
