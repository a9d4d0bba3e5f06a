#include "tensor/wire_header.h"

#include <array>
#include <limits>
#include <optional>
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

/// The library value paired with `wireValue` in `table`, or nullopt when the wire value is unknown.
template <typename Library, typename Wire, size_t N>
std::optional<Library> fromWire(const std::array<std::pair<Library, Wire>, N>& table, Wire wireValue) {
  for (const auto& [libraryValue, tableWireValue] : table) {
    if (tableWireValue == wireValue) return libraryValue;
  }
  return std::nullopt;
}

/// The wire value paired with `libraryValue` in `table` (every library value has one).
template <typename Library, typename Wire, size_t N>
Wire toWire(const std::array<std::pair<Library, Wire>, N>& table, Library libraryValue) {
  for (const auto& [tableLibraryValue, wireValue] : table) {
    if (tableLibraryValue == libraryValue) return wireValue;
  }
  return Wire{};
}

}  // namespace

void toWireHeader(const TensorMeta& meta, const std::string& name, wire::TensorHeader* header) {
  header->set_name(name);
  header->set_dtype(toWire(kDTypes, meta.dtype));
  header->set_codec(toWire(kCodecs, meta.codec));
  for (const int64_t dim : meta.shape) header->add_shape(dim);
  header->set_block_size(static_cast<uint32_t>(meta.blockSize));
  header->set_byte_count(static_cast<uint64_t>(meta.byteCount));
}

TensorMeta fromWireHeader(const wire::TensorHeader& header) {
  const auto dtype = fromWire(kDTypes, header.dtype());
  RAVNEST_CHECK_AS(ProtocolError, dtype.has_value(), "tensor '", header.name(), "' dtype: unknown value ",
                   header.dtype());
  const auto codec = fromWire(kCodecs, header.codec());
  RAVNEST_CHECK_AS(ProtocolError, codec.has_value(), "tensor '", header.name(), "' codec: unknown value ",
                   header.codec());
  RAVNEST_CHECK_AS(ProtocolError, header.byte_count() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                   "tensor '", header.name(), "' byte_count: ", header.byte_count(), " is out of range");
  TensorMeta meta;
  meta.dtype = *dtype;
  meta.codec = *codec;
  meta.shape.assign(header.shape().begin(), header.shape().end());
  meta.blockSize = header.block_size();
  meta.byteCount = static_cast<int64_t>(header.byte_count());
  return meta;
}

}  // namespace ravnest::detail
