#include "comm/grpc/message_framing.h"

#include <grpcpp/support/slice.h>

#include <algorithm>

#include "comm/message_encoding.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

void releaseTensor(void* tensor) { delete static_cast<at::Tensor*>(tensor); }

/// A slice over `length` bytes of `bytes` from `offset`, holding a reference to the tensor until gRPC is done.
grpc::Slice borrowSlice(const at::Tensor& bytes, int64_t offset, int64_t length) {
  auto* keepAlive = new at::Tensor(bytes);
  return grpc::Slice(static_cast<uint8_t*>(bytes.data_ptr()) + offset, static_cast<size_t>(length), &releaseTensor,
                     keepAlive);
}

}  // namespace

std::vector<grpc::ByteBuffer> frameMessage(const Message& message, CodecKind codec, int64_t chunkBytes) {
  RAVNEST_CHECK(chunkBytes > 0 && chunkBytes <= kMaxFrameBytes, "chunkBytes must be in [1, ", kMaxFrameBytes, "], got ",
                chunkBytes);
  EncodedMessage encoded = encodeMessage(message, codec);
  const std::string& serialized = encoded.header;
  const uint32_t headerLength = static_cast<uint32_t>(serialized.size());
  std::string prefix(sizeof(headerLength), '\0');
  for (size_t i = 0; i < sizeof(headerLength); ++i) prefix[i] = static_cast<char>((headerLength >> (8 * i)) & 0xff);
  prefix += serialized;

  std::vector<grpc::ByteBuffer> frames;
  // The payload packs the tensors' bytes back to back after the header, so a small message is one frame and
  // many small tensors share a frame.
  std::vector<grpc::Slice> pending{grpc::Slice(prefix)};
  int64_t pendingBytes = 0;
  auto flush = [&] {
    if (pending.empty()) return;
    frames.emplace_back(pending.data(), pending.size());
    pending.clear();
    pendingBytes = 0;
  };
  for (const at::Tensor& bytes : encoded.payloads) {
    for (int64_t offset = 0; offset < bytes.numel();) {
      const int64_t length = std::min(bytes.numel() - offset, chunkBytes - pendingBytes);
      pending.push_back(borrowSlice(bytes, offset, length));
      pendingBytes += length;
      offset += length;
      if (pendingBytes == chunkBytes) flush();
    }
  }
  flush();
  return frames;
}

wire::MessageHeader readHeaderFrame(SliceReader& frame) {
  uint8_t lengthBytes[4];
  RAVNEST_CHECK_AS(ProtocolError, frame.read(lengthBytes, sizeof(lengthBytes)),
                   "message header: the first frame is shorter than its length prefix");
  const uint32_t length = static_cast<uint32_t>(lengthBytes[0]) | static_cast<uint32_t>(lengthBytes[1]) << 8 |
                          static_cast<uint32_t>(lengthBytes[2]) << 16 | static_cast<uint32_t>(lengthBytes[3]) << 24;
  RAVNEST_CHECK_AS(ProtocolError, length <= kMaxHeaderBytes, "message header: declares ", length,
                   " bytes, more than the ", kMaxHeaderBytes, " a MessageHeader may have");
  std::string serialized(length, '\0');
  wire::MessageHeader header;
  RAVNEST_CHECK_AS(ProtocolError, frame.read(serialized.data(), length) && header.ParseFromString(serialized),
                   "message header: not a valid MessageHeader");
  return header;
}

}  // namespace ravnest::detail
