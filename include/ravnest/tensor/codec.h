#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ravnest {

/// How a tensor's values are written on the wire. Compressed codecs apply to floating-point tensors only;
/// any other tensor travels with `kNone` whatever was asked for (see effectiveCodec).
///
/// Documented worst-case error of one element x after a round trip (tests check these bounds):
/// - kNone: exact, for every dtype.
/// - kFp16: float32 is clamped to [-65504, 65504] and rounded to half: |err| <= 2^-11 * |x| for
///   |x| >= 2^-14, and |err| <= 2^-25 below that (half's subnormal spacing). float64 travels as float32:
///   |err| <= 2^-24 * |x| (plus float32's subnormal spacing). This matches the original `compression=True`.
/// - kBf16: float32 and float64 round to bfloat16: |err| <= 2^-8 * |x| (bfloat16 keeps float32's range).
/// - kInt8Blockwise: values are cut into blocks of `blockSize` elements; each block stores its absmax as a
///   float32 scale and its values as round(x * 127 / absmax): |err| <= absmax(block) / 254, plus the rounding
///   of the original dtype when that is narrower than float32.
enum class CodecKind { kNone, kFp16, kBf16, kInt8Blockwise };

constexpr int64_t kDefaultInt8BlockSize = 256;
constexpr int64_t kMaxInt8BlockSize = int64_t{1} << 20;

/// Parses "none", "fp16", "bf16" or "int8-blockwise" (also "int8"). Throws InvalidArgumentError otherwise.
CodecKind parseCodec(const std::string& name);
std::string codecName(CodecKind codec);

/// The codec that really applies to a tensor of `dtype` when `requested` was asked for.
CodecKind effectiveCodec(CodecKind requested, at::ScalarType dtype);

/// Everything a receiver must know to rebuild a tensor from its encoded bytes.
struct TensorMeta {
  at::ScalarType dtype = at::kFloat;  // dtype before encoding, restored by decoding
  std::vector<int64_t> shape;
  CodecKind codec = CodecKind::kNone;
  int64_t blockSize = 0;  // kInt8Blockwise only
  int64_t byteCount = 0;  // encoded bytes

  int64_t numel() const;
};

/// A tensor in its wire form: `bytes` is a 1-D contiguous uint8 CPU tensor of `meta.byteCount` bytes.
/// With kNone it aliases the source tensor's storage when that was already contiguous on the CPU.
struct EncodedTensor {
  TensorMeta meta;
  at::Tensor bytes;
};

/// Limits a decoder enforces before it allocates anything.
struct DecodeLimits {
  int64_t maxTensorBytes = int64_t{8} << 30;
  int64_t maxDims = 32;
};

/// Encodes `tensor` (any device, any layout; non-contiguous views are made contiguous) with the codec that
/// applies to its dtype. The conversion runs on the tensor's device, then the bytes move to the CPU.
/// Throws InvalidArgumentError for dtypes the wire cannot carry or a bad block size. Thread-safe.
EncodedTensor encodeTensor(const at::Tensor& tensor, CodecKind requested = CodecKind::kNone,
                           int64_t blockSize = kDefaultInt8BlockSize);

/// Checks a received meta before any allocation: known dtype, a codec valid for it, non-negative dims whose
/// product fits, sizes under `limits`, and a byte count equal to what the codec produces. Throws
/// ProtocolError naming the offending field.
void validateMeta(const TensorMeta& meta, const DecodeLimits& limits = {});

/// Encoded size of a tensor described by dtype, element count, codec and block size.
int64_t encodedByteCount(at::ScalarType dtype, int64_t numel, CodecKind codec, int64_t blockSize);

/// Rebuilds the CPU tensor. Validates `encoded.meta` (see validateMeta) and the byte count first. With kNone
/// the result aliases `encoded.bytes`.
at::Tensor decodeTensor(const EncodedTensor& encoded, const DecodeLimits& limits = {});

}  // namespace ravnest
