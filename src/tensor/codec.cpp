#include "ravnest/tensor/codec.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "ravnest/common/error.h"
#include "tensor/int8_blockwise.h"

namespace ravnest {
namespace {

constexpr double kHalfMax = 65504.0;

bool isWireDType(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
    case at::kDouble:
    case at::kHalf:
    case at::kBFloat16:
    case at::kLong:
    case at::kInt:
    case at::kShort:
    case at::kChar:
    case at::kByte:
    case at::kBool:
      return true;
    default:
      return false;
  }
}

at::ScalarType fp16WireDType(at::ScalarType dtype) {
  // The original sent float64 as float32 under compression=True; float32 goes to half.
  return dtype == at::kDouble ? at::kFloat : at::kHalf;
}

/// 1-D uint8 view of a contiguous CPU tensor's bytes (no copy).
at::Tensor asBytes(const at::Tensor& contiguousCpu) {
  return contiguousCpu.reshape({-1}).view(at::kByte);
}

bool multiplyFits(int64_t a, int64_t b, int64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

/// A C++ bool must hold 0 or 1: any other byte is undefined behaviour in every kernel that reads the tensor.
void checkBoolBytes(const at::Tensor& contiguousBytes) {
  const uint8_t* begin = contiguousBytes.data_ptr<uint8_t>();
  const uint8_t* end = begin + contiguousBytes.numel();
  const uint8_t* bad = std::find_if(begin, end, [](uint8_t byte) { return byte > 1; });
  RAVNEST_CHECK_AS(ProtocolError, bad == end, "tensor payload: bool element ", bad - begin, " holds the byte ",
                   static_cast<int>(bad == end ? 0 : *bad), " instead of 0 or 1");
}

}  // namespace

CodecKind parseCodec(const std::string& name) {
  if (name == "none") return CodecKind::kNone;
  if (name == "fp16") return CodecKind::kFp16;
  if (name == "bf16") return CodecKind::kBf16;
  if (name == "int8-blockwise" || name == "int8") return CodecKind::kInt8Blockwise;
  throw InvalidArgumentError("unknown codec '" + name + "': use none, fp16, bf16 or int8-blockwise");
}

std::string codecName(CodecKind codec) {
  switch (codec) {
    case CodecKind::kNone: return "none";
    case CodecKind::kFp16: return "fp16";
    case CodecKind::kBf16: return "bf16";
    case CodecKind::kInt8Blockwise: return "int8-blockwise";
  }
  return "unknown";
}

CodecKind effectiveCodec(CodecKind requested, at::ScalarType dtype) {
  switch (requested) {
    case CodecKind::kFp16:
    case CodecKind::kBf16:
      return dtype == at::kFloat || dtype == at::kDouble ? requested : CodecKind::kNone;
    case CodecKind::kInt8Blockwise:
      return at::isFloatingType(dtype) ? requested : CodecKind::kNone;
    case CodecKind::kNone:
      break;
  }
  return CodecKind::kNone;
}

int64_t TensorMeta::numel() const {
  int64_t count = 1;
  for (const int64_t dim : shape) count *= dim;
  return count;
}

int64_t encodedByteCount(at::ScalarType dtype, int64_t numel, CodecKind codec, int64_t blockSize) {
  switch (codec) {
    case CodecKind::kNone: return numel * static_cast<int64_t>(c10::elementSize(dtype));
    case CodecKind::kFp16: return numel * static_cast<int64_t>(c10::elementSize(fp16WireDType(dtype)));
    case CodecKind::kBf16: return numel * 2;
    case CodecKind::kInt8Blockwise:
      return detail::int8BlockCount(numel, blockSize) * static_cast<int64_t>(sizeof(float)) + numel;
  }
  return -1;
}

EncodedTensor encodeTensor(const at::Tensor& tensor, CodecKind requested, int64_t blockSize) {
  RAVNEST_CHECK(tensor.defined(), "cannot encode an undefined tensor");
  RAVNEST_CHECK(tensor.layout() == at::kStrided, "only dense tensors can travel, got layout ", tensor.layout());
  const at::ScalarType dtype = tensor.scalar_type();
  RAVNEST_CHECK(isWireDType(dtype), "dtype ", dtype,
                " cannot travel on the wire: use float32, float64, float16, bfloat16, int64, int32, int16, int8,"
                " uint8 or bool");
  EncodedTensor encoded;
  encoded.meta.dtype = dtype;
  encoded.meta.shape = tensor.sizes().vec();
  encoded.meta.codec = effectiveCodec(requested, dtype);

  at::Tensor wire;
  switch (encoded.meta.codec) {
    case CodecKind::kNone:
      wire = tensor;
      break;
    case CodecKind::kFp16:
      wire = dtype == at::kDouble ? tensor.to(at::kFloat) : tensor.clamp(-kHalfMax, kHalfMax).to(at::kHalf);
      break;
    case CodecKind::kBf16:
      wire = tensor.to(at::kBFloat16);
      break;
    case CodecKind::kInt8Blockwise:
      RAVNEST_CHECK(blockSize > 0 && blockSize <= kMaxInt8BlockSize, "int8-blockwise block size must be in [1, ",
                    kMaxInt8BlockSize, "], got ", blockSize);
      encoded.meta.blockSize = blockSize;
      wire = detail::quantizeInt8Blockwise(tensor, blockSize);
      break;
  }
  encoded.bytes = asBytes(wire.to(at::kCPU).contiguous());
  encoded.meta.byteCount = encoded.bytes.numel();
  return encoded;
}

void validateMeta(const TensorMeta& meta, const DecodeLimits& limits) {
  RAVNEST_CHECK_AS(ProtocolError, isWireDType(meta.dtype), "tensor dtype: ", meta.dtype, " is not a wire dtype");
  RAVNEST_CHECK_AS(ProtocolError, effectiveCodec(meta.codec, meta.dtype) == meta.codec, "tensor codec: ",
                   codecName(meta.codec), " cannot carry ", meta.dtype, " tensors");
  RAVNEST_CHECK_AS(ProtocolError, static_cast<int64_t>(meta.shape.size()) <= limits.maxDims, "tensor shape: ",
                   meta.shape.size(), " dims exceed the limit of ", limits.maxDims);
  int64_t numel = 1;
  // Strides are products of dims; with a zero dim the element count is 0 but the other dims' product still
  // must fit (LibTorch computes it and fails on overflow), so it counts zero dims as 1.
  int64_t strideExtent = 1;
  for (size_t i = 0; i < meta.shape.size(); ++i) {
    RAVNEST_CHECK_AS(ProtocolError, meta.shape[i] >= 0, "tensor shape: dim ", i, " is negative (", meta.shape[i], ")");
    RAVNEST_CHECK_AS(ProtocolError, multiplyFits(numel, meta.shape[i], &numel) &&
                                        multiplyFits(strideExtent, std::max<int64_t>(meta.shape[i], 1), &strideExtent),
                     "tensor shape: the product of the dims overflows");
  }
  int64_t decodedBytes = 0;
  RAVNEST_CHECK_AS(ProtocolError,
                   multiplyFits(numel, static_cast<int64_t>(c10::elementSize(meta.dtype)), &decodedBytes) &&
                       decodedBytes <= limits.maxTensorBytes,
                   "tensor shape: ", numel, " elements of ", meta.dtype, " exceed the limit of ",
                   limits.maxTensorBytes, " bytes");
  if (meta.codec == CodecKind::kInt8Blockwise) {
    RAVNEST_CHECK_AS(ProtocolError, meta.blockSize > 0 && meta.blockSize <= kMaxInt8BlockSize,
                     "tensor block_size: ", meta.blockSize, " is outside [1, ", kMaxInt8BlockSize, "]");
  } else {
    RAVNEST_CHECK_AS(ProtocolError, meta.blockSize == 0, "tensor block_size: must be 0 for codec ",
                     codecName(meta.codec), ", got ", meta.blockSize);
  }
  const int64_t expected = encodedByteCount(meta.dtype, numel, meta.codec, meta.blockSize);
  RAVNEST_CHECK_AS(ProtocolError, meta.byteCount == expected, "tensor byte_count: ", meta.byteCount,
                   " does not match the ", expected, " bytes that shape and codec imply");
}

at::Tensor decodeTensor(const EncodedTensor& encoded, const DecodeLimits& limits) {
  const TensorMeta& meta = encoded.meta;
  validateMeta(meta, limits);
  RAVNEST_CHECK_AS(ProtocolError,
                   encoded.bytes.defined() && encoded.bytes.scalar_type() == at::kByte && encoded.bytes.dim() == 1 &&
                       encoded.bytes.numel() == meta.byteCount,
                   "tensor payload: expected ", meta.byteCount, " bytes, got ",
                   encoded.bytes.defined() ? encoded.bytes.numel() : 0);
  const at::Tensor bytes = encoded.bytes.contiguous();
  if (meta.dtype == at::kBool) checkBoolBytes(bytes);
  switch (meta.codec) {
    case CodecKind::kNone:
      return bytes.view(meta.dtype).reshape(meta.shape);
    case CodecKind::kFp16:
      return bytes.view(fp16WireDType(meta.dtype)).to(meta.dtype).reshape(meta.shape);
    case CodecKind::kBf16:
      return bytes.view(at::kBFloat16).to(meta.dtype).reshape(meta.shape);
    case CodecKind::kInt8Blockwise:
      return detail::dequantizeInt8Blockwise(bytes, meta.numel(), meta.blockSize).to(meta.dtype).reshape(meta.shape);
  }
  throw ProtocolError("tensor codec: unknown");
}

}  // namespace ravnest
