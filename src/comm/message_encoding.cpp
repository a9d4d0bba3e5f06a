#include "comm/message_encoding.h"

#include "ravnest/common/error.h"
#include "tensor/wire_header.h"

namespace ravnest::detail {

wire::MessageKind toWireKind(MessageKind kind) {
  switch (kind) {
    case MessageKind::kActivation: return wire::ACTIVATION;
    case MessageKind::kGradient: return wire::GRADIENT;
    case MessageKind::kRingChunk: return wire::RING_CHUNK;
    case MessageKind::kControl: return wire::CONTROL;
  }
  return wire::KIND_UNSPECIFIED;
}

MessageKind fromWireKind(wire::MessageKind kind) {
  switch (kind) {
    case wire::ACTIVATION: return MessageKind::kActivation;
    case wire::GRADIENT: return MessageKind::kGradient;
    case wire::RING_CHUNK: return MessageKind::kRingChunk;
    case wire::CONTROL: return MessageKind::kControl;
    default: break;
  }
  throw ProtocolError("message kind: unknown value " + std::to_string(static_cast<int>(kind)));
}

EncodedMessage encodeMessage(const Message& message, CodecKind codec) {
  wire::MessageHeader header;
  header.set_kind(toWireKind(message.kind));
  header.set_sender(message.sender);
  header.set_id(message.id);
  if (message.kind == MessageKind::kRingChunk) {
    wire::RingTag* ring = header.mutable_ring();
    ring->set_ring_id(message.ring.ringId);
    ring->set_round(message.ring.round);
    ring->set_phase(message.ring.phase);
    ring->set_step(message.ring.step);
    ring->set_segment(message.ring.segment);
  }
  EncodedMessage encoded;
  encoded.payloads.reserve(message.tensors.size());
  for (const auto& named : message.tensors) {
    EncodedTensor tensor = encodeTensor(named.tensor, codec);
    toWireHeader(tensor.meta, named.name, header.add_tensors());
    encoded.payloadBytes += tensor.bytes.numel();
    encoded.payloads.push_back(std::move(tensor.bytes));
  }
  encoded.header = header.SerializeAsString();
  return encoded;
}

}  // namespace ravnest::detail
