#include "comm/payload_assembler.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

#include "comm/message_encoding.h"
#include "comm/receive_buffer_pool.h"
#include "ravnest/common/error.h"
#include "tensor/finiteness.h"
#include "tensor/wire_header.h"

namespace ravnest::detail {

PayloadAssembler::PayloadAssembler(const wire::MessageHeader& header, const TransportOptions& options)
    : kind_(fromWireKind(header.kind())),
      sender_(header.sender()),
      id_(header.id()),
      ring_{header.ring().ring_id(), header.ring().round(), header.ring().phase(), header.ring().step(),
            header.ring().segment()} {
  RAVNEST_CHECK_AS(ProtocolError, header.tensors_size() <= options.maxTensorsPerMessage, "message tensors: ",
                   header.tensors_size(), " tensors exceed the limit of ", options.maxTensorsPerMessage);
  limits_.maxTensorBytes = options.maxMessageBytes;
  names_.reserve(header.tensors_size());
  tensors_.reserve(header.tensors_size());
  for (const auto& tensorHeader : header.tensors()) {
    EncodedTensor encoded;
    encoded.meta = fromWireHeader(tensorHeader);
    validateMeta(encoded.meta, limits_);
    expectedBytes_ += encoded.meta.byteCount;
    RAVNEST_CHECK_AS(ProtocolError, expectedBytes_ <= options.maxMessageBytes, "message size: tensors declare more "
                     "than the limit of ", options.maxMessageBytes, " bytes");
    names_.push_back(tensorHeader.name());
    checkedOnArrival_.push_back(encoded.meta.codec == CodecKind::kNone &&
                                rawFiniteCheckElementSize(encoded.meta.dtype) > 0);
    tensors_.push_back(std::move(encoded));
  }
}

Message PayloadAssembler::header() const {
  Message header;
  header.kind = kind_;
  header.sender = sender_;
  header.id = id_;
  header.ring = ring_;
  return header;
}

void PayloadAssembler::reduceOnArrival(ArrivalReduction target) {
  RAVNEST_CHECK(receivedBytes_ == 0 && tensors_.size() == 1 && tensors_.front().meta.codec == CodecKind::kNone &&
                    tensors_.front().meta.dtype == at::kFloat && tensors_.front().meta.numel() == target.sum.numel(),
                "reduce on arrival: needs one uncompressed float32 tensor of ", target.sum.numel(),
                " elements, before its first byte");
  arrivalSum_.emplace(std::move(target.sum), std::move(target.addend));
}

void PayloadAssembler::append(const uint8_t* data, size_t size) {
  RAVNEST_CHECK_AS(ProtocolError, static_cast<int64_t>(size) <= expectedBytes_ - receivedBytes_,
                   "message payload: more bytes than the ", expectedBytes_, " the header declares");
  if (arrivalSum_) {
    arrivalSum_->append(data, size);
    receivedBytes_ += static_cast<int64_t>(size);
    return;
  }
  while (size > 0) {
    const auto [target, room] = nextBuffer();
    const size_t length = std::min(room, size);
    std::memcpy(target, data, length);
    arrived(length);
    data += length;
    size -= length;
  }
}

void PayloadAssembler::skipCompleteTensors() {
  while (offsetInCurrent_ == tensors_[currentTensor_].meta.byteCount) {
    ++currentTensor_;
    offsetInCurrent_ = 0;
    checkedInCurrent_ = 0;
  }
}

std::pair<uint8_t*, size_t> PayloadAssembler::nextBuffer() {
  RAVNEST_CHECK(!arrivalSum_ && !complete(), "payload: no bytes are missing, or they are reduced on arrival");
  skipCompleteTensors();
  EncodedTensor& target = tensors_[currentTensor_];
  if (!target.bytes.defined()) target.bytes = ReceiveBufferPool::shared().take(target.meta.byteCount);
  return {target.bytes.data_ptr<uint8_t>() + offsetInCurrent_,
          static_cast<size_t>(target.meta.byteCount - offsetInCurrent_)};
}

void PayloadAssembler::arrived(size_t size) {
  const EncodedTensor& target = tensors_[currentTensor_];
  RAVNEST_CHECK(static_cast<int64_t>(size) <= target.meta.byteCount - offsetInCurrent_,
                "payload: more bytes arrived than the buffer had room for");
  offsetInCurrent_ += static_cast<int64_t>(size);
  receivedBytes_ += static_cast<int64_t>(size);
  checkArrivedElements(target);
}

void PayloadAssembler::checkArrivedElements(const EncodedTensor& target) {
  if (!checkedOnArrival_[currentTensor_] || !nonFiniteTensor_.empty()) return;
  // Whole elements only: an element split across two pieces is checked once its last byte is in.
  const int64_t elementSize = rawFiniteCheckElementSize(target.meta.dtype);
  const int64_t complete = offsetInCurrent_ / elementSize * elementSize;
  if (complete == checkedInCurrent_) return;
  if (!rawFloatsAllFinite(target.bytes.data_ptr<uint8_t>() + checkedInCurrent_,
                          (complete - checkedInCurrent_) / elementSize, target.meta.dtype)) {
    nonFiniteTensor_ = names_[currentTensor_];
  }
  checkedInCurrent_ = complete;
}

Message PayloadAssembler::finish() {
  RAVNEST_CHECK_AS(ProtocolError, complete(), "truncated stream: received ", receivedBytes_, " of ", expectedBytes_,
                   " payload bytes");
  Message message;
  message.kind = kind_;
  message.sender = std::move(sender_);
  message.id = id_;
  message.ring = ring_;
  message.tensors.reserve(tensors_.size());
  if (arrivalSum_) {
    if (!arrivalSum_->allFinite()) nonFiniteTensor_ = names_.front();
    message.tensors.push_back({std::move(names_.front()), arrivalSum_->sum().view(tensors_.front().meta.shape)});
    return message;
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    EncodedTensor& encoded = tensors_[i];
    if (!encoded.bytes.defined()) encoded.bytes = ReceiveBufferPool::shared().take(encoded.meta.byteCount);
    at::Tensor decoded = decodeTensor(encoded, limits_);
    if (nonFiniteTensor_.empty() && !checkedOnArrival_[i] && !allFinite(decoded)) nonFiniteTensor_ = names_[i];
    message.tensors.push_back({std::move(names_[i]), std::move(decoded)});
  }
  return message;
}

}  // namespace ravnest::detail
