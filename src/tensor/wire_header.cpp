#include "tensor/wire_header.h"

#include <array>
#include <limits>
#include <utility>

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

constexpr std::array<std::pair<at::ScalarType, wire::DType>, 10> kDTypes{{
    {at::kFloat, wire::FLOAT32},
    {at::kDouble, wire::FLOAT64},
    {at::kHalf, wire::FLOAT16},
    {at::kBFloat16, wire::BFLOAT16},
    {at::kLong, wire::INT64},
    {at::kInt, wire::INT32},
    {at::kShort, wire::INT16},
    {at::kChar, wire::INT8},
    {at::kByte, wire::UINT8},
    {at::kBool, wire::BOOL},
}};

constexpr std::array<std::pair<CodecKind, wire::Codec>, 4> kCodecs{{
    {CodecKind::kNone, wire::CODEC_NONE},
    {CodecKind::kFp16, wire::CODEC_FP16},
    {CodecKind::kBf16, wire::CODEC_BF16},
    {CodecKind::kInt8Blockwise, wire::CODEC_INT8_BLOCKWISE},
}};

}  // namespace

void toWireHeader(const TensorMeta& meta, const std::string& name, wire::TensorHeader* header) {
  header->set_name(name);
  for (const auto& [scalarType, wireType] : kDTypes) {
    if (scalarType == meta.dtype) header->set_dtype(wireType);
  }
  for (const auto& [codec, wireCodec] : kCodecs) {
    if (codec == meta.codec) header->set_codec(wireCodec);
  }
  for (const int64_t dim : meta.shape) header->add_shape(dim);
  header->set_block_size(static_cast<uint32_t>(meta.blockSize));
  header->set_byte_count(static_cast<uint64_t>(meta.byteCount));
}

TensorMeta fromWireHeader(const wire::TensorHeader& header) {
  TensorMeta meta;
  bool knownDType = false;
  for (const auto& [scalarType, wireType] : kDTypes) {
    if (wireType == header.dtype()) {
      meta.dtype = scalarType;
      knownDType = true;
    }
  }
  RAVNEST_CHECK_AS(ProtocolError, knownDType, "tensor '", header.name(), "' dtype: unknown value ", header.dtype());
  bool knownCodec = false;
  for (const auto& [codec, wireCodec] : kCodecs) {
    if (wireCodec == header.codec()) {
      meta.codec = codec;
      knownCodec = true;
    }
  }
  RAVNEST_CHECK_AS(ProtocolError, knownCodec, "tensor '", header.name(), "' codec: unknown value ", header.codec());
  RAVNEST_CHECK_AS(ProtocolError, header.byte_count() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                   "tensor '", header.name(), "' byte_count: ", header.byte_count(), " is out of range");
  meta.shape.assign(header.shape().begin(), header.shape().end());
  meta.blockSize = header.block_size();
  meta.byteCount = static_cast<int64_t>(header.byte_count());
  return meta;
}

}  // namespace ravnest::detail
