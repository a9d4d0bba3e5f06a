#include "tensor_decoders.h"

#include <ATen/ATen.h>
#include <grpcpp/support/slice.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "comm/grpc/message_framing.h"
#include "comm/grpc/slice_reader.h"
#include "comm/payload_assembler.h"
#include "invariant.h"
#include "ravnest.pb.h"
#include "ravnest/common/error.h"
#include "ravnest/tensor/codec.h"
#include "tensor/wire_header.h"

namespace ravnest::fuzz {
namespace {

// Limits far below the production ones, so that no input makes the decoders allocate past libFuzzer's memory
// limit; the checks are the same at any limit.
constexpr int64_t kFuzzMaxBytes = int64_t{1} << 20;

DecodeLimits fuzzLimits() {
  DecodeLimits limits;
  limits.maxTensorBytes = kFuzzMaxBytes;
  return limits;
}

/// Reads little-endian fields off the front of a fuzz input; past its end every byte reads as zero, so every
/// input means something.
class ByteCursor {
 public:
  ByteCursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  template <typename T>
  T take() {
    uint64_t value = 0;
    for (size_t i = 0; i < sizeof(T); ++i, ++offset_) {
      if (offset_ < size_) value |= static_cast<uint64_t>(data_[offset_]) << (8 * i);
    }
    return static_cast<T>(value);
  }

  const uint8_t* rest() const { return data_ + std::min(offset_, size_); }
  size_t remaining() const { return size_ - std::min(offset_, size_); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};

/// What every tensor a decoder accepts must satisfy.
void expectMatchesMeta(const at::Tensor& decoded, const TensorMeta& meta) {
  expectInvariant(decoded.scalar_type() == meta.dtype, "decoded dtype differs from the header's");
  expectInvariant(decoded.sizes().vec() == meta.shape, "decoded shape differs from the header's");
  // A C++ bool holding another byte than 0 or 1 is undefined behaviour in every kernel that reads it.
  expectInvariant(decoded.scalar_type() != at::kBool || decoded.contiguous().view(at::kByte).le(1).all().item<bool>(),
                  "a decoded bool tensor holds bytes other than 0 and 1");
}

/// A received tensor as the server holds it: meta from the header, the bytes in a buffer of their own.
void decodeReceived(const wire::TensorHeader& header, const uint8_t* payload, size_t size) {
  EncodedTensor encoded;
  encoded.meta = detail::fromWireHeader(header);
  encoded.bytes = at::empty({static_cast<int64_t>(size)}, at::kByte);
  if (size > 0) std::memcpy(encoded.bytes.data_ptr<uint8_t>(), payload, size);
  expectMatchesMeta(decodeTensor(encoded, fuzzLimits()), encoded.meta);
}

void decodeOneTensor(wire::Codec codec, const uint8_t* data, size_t size) {
  ByteCursor input(data, size);
  wire::TensorHeader header;
  header.set_name("fuzzed");
  header.set_dtype(static_cast<wire::DType>(input.take<uint8_t>()));
  header.set_codec(codec);
  const int dims = input.take<uint8_t>() % 5;
  for (int i = 0; i < dims; ++i) header.add_shape(input.take<int64_t>());
  if (codec == wire::CODEC_INT8_BLOCKWISE) header.set_block_size(input.take<uint32_t>());
  header.set_byte_count(input.remaining());
  decodeReceived(header, input.rest(), input.remaining());
}

}  // namespace

void decodeTensorMessage(const uint8_t* data, size_t size) {
  ByteCursor input(data, size);
  const size_t sliceBytes = size_t{1} + input.take<uint8_t>();
  std::vector<grpc::Slice> slices;
  for (size_t offset = 0; offset < input.remaining(); offset += sliceBytes) {
    slices.emplace_back(input.rest() + offset, std::min(sliceBytes, input.remaining() - offset));
  }
  detail::SliceReader frame(std::move(slices));
  const wire::MessageHeader header = detail::readHeaderFrame(frame);
  TransportOptions options;
  options.maxMessageBytes = kFuzzMaxBytes;
  detail::PayloadAssembler assembler(header, options);
  frame.drain([&](const uint8_t* bytes, size_t length) { assembler.append(bytes, length); });
  const Message message = assembler.finish();
  expectInvariant(static_cast<int>(message.tensors.size()) == header.tensors_size(),
                  "the message has another tensor count than its header");
  for (size_t i = 0; i < message.tensors.size(); ++i) {
    expectMatchesMeta(message.tensors[i].tensor, detail::fromWireHeader(header.tensors(static_cast<int>(i))));
  }
}

void decodeWireHeader(const uint8_t* data, size_t size) {
  wire::TensorHeader header;
  RAVNEST_CHECK_AS(ProtocolError, header.ParseFromArray(data, static_cast<int>(size)),
                   "tensor header: not a valid TensorHeader");
  validateMeta(detail::fromWireHeader(header), fuzzLimits());
}

void decodeNoneTensor(const uint8_t* data, size_t size) {
  decodeOneTensor(wire::CODEC_NONE, data, size);
}

void decodeFp16Tensor(const uint8_t* data, size_t size) {
  decodeOneTensor(wire::CODEC_FP16, data, size);
}

void decodeBf16Tensor(const uint8_t* data, size_t size) {
  decodeOneTensor(wire::CODEC_BF16, data, size);
}

void decodeInt8BlockwiseTensor(const uint8_t* data, size_t size) {
  decodeOneTensor(wire::CODEC_INT8_BLOCKWISE, data, size);
}

}  // namespace ravnest::fuzz
