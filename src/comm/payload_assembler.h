#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "comm/arrival_sum.h"
#include "ravnest.pb.h"
#include "ravnest/comm/message.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/comm/transport_options.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// Rebuilds one message from its header and the payload bytes that follow it, in whatever pieces they
/// arrive. The header is fully validated before anything is allocated, and each tensor's buffer is allocated
/// only when its first byte arrives, so a hostile header alone costs no memory. Every payload byte is copied
/// exactly once, into its final buffer. Not thread-safe: one call's frames arrive in order.
class PayloadAssembler {
 public:
  /// Throws ProtocolError naming the field when the header breaks the protocol or the limits in `options`.
  PayloadAssembler(const wire::MessageHeader& header, const TransportOptions& options);

  /// The message's header fields (kind, sender, id, ring tag), without its tensors.
  Message header() const;
  size_t tensorCount() const { return tensors_.size(); }
  const TensorMeta& tensorMeta(size_t index) const { return tensors_[index].meta; }

  /// Reduces the payload into `target` as it arrives instead of copying it into a buffer of its own; the message
  /// then carries `target.sum`. Only before the first payload byte, for a message of one uncompressed float32
  /// tensor of the target's size; throws InvalidArgumentError otherwise.
  void reduceOnArrival(ArrivalReduction target);

  /// Copies the next `size` payload bytes into place. Throws ProtocolError past the declared byte count.
  void append(const uint8_t* data, size_t size);

  /// Where the next payload bytes belong, for a transport that reads them straight into place: the current
  /// tensor's buffer (allocated now) from the first missing byte, and how many bytes fit there. Then
  /// arrived() says how many were written. Not with reduceOnArrival. Only while !complete().
  std::pair<uint8_t*, size_t> nextBuffer();
  /// `size` bytes (at most nextBuffer()'s room) were written at nextBuffer().
  void arrived(size_t size);

  bool complete() const { return receivedBytes_ == expectedBytes_; }
  int64_t receivedBytes() const { return receivedBytes_; }
  int64_t expectedBytes() const { return expectedBytes_; }
  MessageKind kind() const { return kind_; }

  /// Decodes the tensors and hands over the message. Throws ProtocolError when bytes are missing.
  Message finish();
  /// After finish(): the name of the first floating-point tensor holding NaN or Inf, or empty. Raw float32 and
  /// float64 payloads are checked while they are copied in, when the bytes are still in cache.
  const std::string& nonFiniteTensor() const { return nonFiniteTensor_; }

 private:
  /// Moves past tensors that are complete (or empty) to the one the next byte belongs to.
  void skipCompleteTensors();
  /// Checks the elements of the current tensor that arrived complete since the last call.
  void checkArrivedElements(const EncodedTensor& target);

  MessageKind kind_;
  std::string sender_;
  uint64_t id_;
  RingTag ring_;
  std::vector<std::string> names_;
  std::vector<EncodedTensor> tensors_;
  DecodeLimits limits_;
  size_t currentTensor_ = 0;
  int64_t offsetInCurrent_ = 0;
  int64_t expectedBytes_ = 0;
  int64_t receivedBytes_ = 0;
  int64_t checkedInCurrent_ = 0;  // bytes of the current tensor whose finiteness was checked on the way in
  std::vector<bool> checkedOnArrival_;  // per tensor: every element was checked in append()
  std::string nonFiniteTensor_;
  std::optional<ArrivalSum> arrivalSum_;  // set by reduceOnArrival()
};

}  // namespace ravnest::detail
