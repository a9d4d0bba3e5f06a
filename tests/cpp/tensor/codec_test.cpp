#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "ravnest/common/error.h"
#include "ravnest/tensor/codec.h"

namespace ravnest {
namespace {

const std::vector<at::ScalarType> kWireDTypes = {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16, at::kLong,
                                                  at::kInt,   at::kShort,  at::kChar, at::kByte,     at::kBool};

at::Tensor sample(at::ScalarType dtype, at::IntArrayRef shape) {
  if (dtype == at::kBool) return at::rand(shape) > 0.5;
  if (at::isFloatingType(dtype)) return (at::randn(shape) * 100).to(dtype);
  return at::randint(-100, 100, shape).to(dtype);
}

at::Tensor roundTrip(const at::Tensor& tensor, CodecKind codec) {
  return decodeTensor(encodeTensor(tensor, codec));
}

TEST(CodecTest, NoneRoundTripsEveryDTypeAndShapeExactly) {
  const std::vector<std::vector<int64_t>> shapes = {{}, {0}, {3, 0, 2}, {7}, {4, 5, 6}};
  for (const auto dtype : kWireDTypes) {
    for (const auto& shape : shapes) {
      const at::Tensor original = sample(dtype, shape);
      const at::Tensor decoded = roundTrip(original, CodecKind::kNone);
      EXPECT_EQ(decoded.scalar_type(), dtype);
      EXPECT_EQ(decoded.sizes(), original.sizes());
      EXPECT_TRUE(at::equal(decoded, original)) << dtype << " shape size " << shape.size();
    }
  }
}

TEST(CodecTest, NonContiguousViewsTravelContiguous) {
  const at::Tensor base = at::arange(24, at::kFloat).reshape({4, 6});
  const at::Tensor view = base.t().slice(0, 1, 5, 2);
  ASSERT_FALSE(view.is_contiguous());
  const at::Tensor decoded = roundTrip(view, CodecKind::kNone);
  EXPECT_TRUE(decoded.is_contiguous());
  EXPECT_TRUE(at::equal(decoded, view));
}

TEST(CodecTest, CompressedCodecsLeaveNonFloatTensorsExact) {
  for (const auto codec : {CodecKind::kFp16, CodecKind::kBf16, CodecKind::kInt8Blockwise}) {
    for (const auto dtype : {at::kLong, at::kInt, at::kByte, at::kBool}) {
      const at::Tensor original = sample(dtype, {33});
      const EncodedTensor encoded = encodeTensor(original, codec);
      EXPECT_EQ(encoded.meta.codec, CodecKind::kNone);
      EXPECT_TRUE(at::equal(decodeTensor(encoded), original));
    }
  }
}

TEST(CodecTest, Fp16ClampsToHalfRangeAndMeetsItsBound) {
  at::Tensor original = at::cat({at::randn({5000}) * 1000, at::tensor({1e6f, -1e6f, 65504.f, 1e-6f, 0.f})});
  const EncodedTensor encoded = encodeTensor(original, CodecKind::kFp16);
  EXPECT_EQ(encoded.meta.byteCount, original.numel() * 2);
  const at::Tensor decoded = decodeTensor(encoded);
  EXPECT_EQ(decoded.scalar_type(), at::kFloat);
  const at::Tensor clamped = original.clamp(-65504, 65504);
  const at::Tensor bound = at::maximum(clamped.abs() * std::ldexp(1.0, -11), at::full_like(clamped, std::ldexp(1.0, -25)));
  EXPECT_TRUE((decoded - clamped).abs().le(bound).all().item<bool>());
  EXPECT_EQ(decoded[5000].item<float>(), 65504.f);
  EXPECT_EQ(decoded[5001].item<float>(), -65504.f);
}

TEST(CodecTest, Fp16SendsFloat64AsFloat32) {
  const at::Tensor original = at::randn({1000}, at::kDouble) * 1e10;
  const EncodedTensor encoded = encodeTensor(original, CodecKind::kFp16);
  EXPECT_EQ(encoded.meta.byteCount, 4000);
  const at::Tensor decoded = decodeTensor(encoded);
  EXPECT_EQ(decoded.scalar_type(), at::kDouble);
  EXPECT_TRUE((decoded - original).abs().le(original.abs() * std::ldexp(1.0, -24)).all().item<bool>());
}

TEST(CodecTest, Bf16MeetsItsRelativeBound) {
  const at::Tensor original = at::randn({10000}) * at::exp(at::randn({10000}) * 10);
  const EncodedTensor encoded = encodeTensor(original, CodecKind::kBf16);
  EXPECT_EQ(encoded.meta.byteCount, 20000);
  const at::Tensor decoded = decodeTensor(encoded);
  EXPECT_TRUE((decoded - original).abs().le(original.abs() * std::ldexp(1.0, -8)).all().item<bool>());
}

TEST(CodecTest, Int8BlockwiseMeetsItsPerBlockBound) {
  for (const int64_t blockSize : {1, 7, 256, 4096}) {
    const at::Tensor original = at::randn({3, 1001}) * at::linspace(0.001, 1000, 3).unsqueeze(1);
    const EncodedTensor encoded = encodeTensor(original, CodecKind::kInt8Blockwise, blockSize);
    const int64_t blocks = (original.numel() + blockSize - 1) / blockSize;
    EXPECT_EQ(encoded.meta.byteCount, blocks * 4 + original.numel());
    const at::Tensor decoded = decodeTensor(encoded);
    ASSERT_EQ(decoded.sizes(), original.sizes());
    const at::Tensor flat = original.reshape({-1});
    const at::Tensor padded = at::constant_pad_nd(flat, {0, blocks * blockSize - flat.numel()});
    const at::Tensor absmax = padded.view({blocks, blockSize}).abs().amax(1);
    const at::Tensor bound = absmax.repeat_interleave(blockSize).slice(0, 0, flat.numel()) / 254 * (1 + 1e-5);
    EXPECT_TRUE((decoded.reshape({-1}) - flat).abs().le(bound).all().item<bool>()) << "block size " << blockSize;
  }
}

TEST(CodecTest, Int8BlockwiseKeepsZeroBlocksExactAndHandlesEmptyTensors) {
  const at::Tensor zeros = at::zeros({300});
  EXPECT_TRUE(at::equal(roundTrip(zeros, CodecKind::kInt8Blockwise), zeros));
  const at::Tensor empty = at::empty({0, 4});
  EXPECT_EQ(roundTrip(empty, CodecKind::kInt8Blockwise).sizes(), empty.sizes());
  const at::Tensor scalar = at::tensor(3.5f).reshape({});
  EXPECT_NEAR(roundTrip(scalar, CodecKind::kInt8Blockwise).item<float>(), 3.5f, 3.5f / 254);
}

TEST(CodecTest, ParsesCodecNamesAndRejectsUnknownOnes) {
  EXPECT_EQ(parseCodec("int8-blockwise"), CodecKind::kInt8Blockwise);
  EXPECT_EQ(codecName(parseCodec("bf16")), "bf16");
  EXPECT_THROW(parseCodec("zip"), InvalidArgumentError);
}

void expectProtocolError(const TensorMeta& meta, const std::string& field) {
  try {
    validateMeta(meta);
    FAIL() << "no error for a bad " << field;
  } catch (const ProtocolError& error) {
    EXPECT_NE(std::string(error.what()).find(field), std::string::npos) << error.what();
  }
}

TEST(CodecTest, ValidationNamesTheBadField) {
  TensorMeta good{at::kFloat, {2, 3}, CodecKind::kNone, 0, 24};
  EXPECT_NO_THROW(validateMeta(good));

  TensorMeta wrongBytes = good;
  wrongBytes.byteCount = 23;
  expectProtocolError(wrongBytes, "byte_count");

  TensorMeta negative = good;
  negative.shape = {2, -3};
  expectProtocolError(negative, "shape");

  TensorMeta huge = good;
  huge.shape = {int64_t{1} << 40, int64_t{1} << 40};
  expectProtocolError(huge, "shape");

  TensorMeta overLimit = good;
  overLimit.shape = {int64_t{1} << 32};
  overLimit.byteCount = int64_t{1} << 34;
  expectProtocolError(overLimit, "shape");

  TensorMeta intAsFp16 = good;
  intAsFp16.dtype = at::kLong;
  intAsFp16.codec = CodecKind::kFp16;
  expectProtocolError(intAsFp16, "codec");

  TensorMeta badBlock{at::kFloat, {10}, CodecKind::kInt8Blockwise, 0, 14};
  expectProtocolError(badBlock, "block_size");

  TensorMeta unsupported = good;
  unsupported.dtype = at::kComplexFloat;
  expectProtocolError(unsupported, "dtype");
}

TEST(CodecTest, DecodeRejectsAPayloadOfTheWrongLength) {
  EncodedTensor encoded = encodeTensor(at::ones({4}));
  encoded.bytes = encoded.bytes.slice(0, 0, 15);
  EXPECT_THROW(decodeTensor(encoded), ProtocolError);
}

TEST(CodecTest, RejectsDTypesTheWireCannotCarry) {
  EXPECT_THROW(encodeTensor(at::ones({2}, at::kComplexFloat)), InvalidArgumentError);
}

}  // namespace
}  // namespace ravnest
