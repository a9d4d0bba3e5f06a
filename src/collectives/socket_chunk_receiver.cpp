#include "collectives/socket_chunk_receiver.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

#include "comm/arrival_sum.h"
#include "comm/stream/stream_wire.h"
#include "ravnest/common/error.h"
#include "tensor/finiteness.h"
#include "tensor/vector_lanes.h"

namespace ravnest::detail {
namespace {

std::string describe(const RingTag& tag) {
  return concat("ring ", tag.ringId, " round ", tag.round, " ", tag.phase == 0 ? "reduce-scatter" : "all-gather",
                " step ", tag.step, " segment ", tag.segment);
}

bool sameTag(const RingTag& a, const RingTag& b) {
  return a.ringId == b.ringId && a.round == b.round && a.phase == b.phase && a.step == b.step &&
         a.segment == b.segment;
}

bool readsInPieces(const TensorMeta& meta, const at::Tensor& target) {
  return meta.codec == CodecKind::kNone && meta.dtype == at::kFloat && target.scalar_type() == at::kFloat;
}

/// mean[i] = (mean[i] + piece[i]) / members: the owner's sum and division in one pass over its values.
void addAndDivide(float* mean, const uint8_t* piece, int64_t count, float members) {
  constexpr int64_t kLanes = kLaneCount<float>;
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    storeLanes<float>(mean + i, (loadLanes<float>(mean + i) + loadLanes<float>(piece + i * sizeof(float))) / members);
  }
  for (; i < count; ++i) {
    float received;
    std::memcpy(&received, piece + i * sizeof(float), sizeof(received));
    mean[i] = (mean[i] + received) / members;
  }
}

}  // namespace

SocketChunkReceiver::SocketChunkReceiver(StreamSocket& socket, std::vector<uint8_t>& bounce,
                                         std::chrono::milliseconds deadline, std::string waitingFor,
                                         std::shared_ptr<TrafficCounters> traffic, std::string sender)
    : socket_(socket),
      bounce_(bounce),
      deadline_(deadline),
      waitingFor_(std::move(waitingFor)),
      traffic_(std::move(traffic)),
      sender_(std::move(sender)) {}

void SocketChunkReceiver::addInto(const RingTag& tag, at::Tensor& sum, const at::Tensor& addend) {
  const TensorMeta meta = readHeader(tag, sum.numel());
  if (!readsInPieces(meta, sum)) {
    at::add_out(sum, addend, readDecoded(tag, meta).to(sum.scalar_type()));
    return counted(meta);
  }
  int64_t done = 0;
  bool finite = true;
  readPieces(meta, [&](const uint8_t* piece, int64_t elements) {
    ArrivalSum arrival(sum.slice(0, done, done + elements), addend.slice(0, done, done + elements));
    arrival.append(piece, static_cast<size_t>(elements) * sizeof(float));
    finite = finite && arrival.allFinite();
    done += elements;
  });
  if (!finite) reject(describe(tag) + " carries NaN or Inf");
  counted(meta);
}

void SocketChunkReceiver::averageInto(const RingTag& tag, at::Tensor& mean, at::Tensor& scratch, int members) {
  const TensorMeta meta = readHeader(tag, mean.numel());
  if (!readsInPieces(meta, mean)) {
    at::add_out(scratch, mean, readDecoded(tag, meta).to(mean.scalar_type()));
    at::div_out(mean, scratch, members);
    return counted(meta);
  }
  float* destination = mean.data_ptr<float>();
  readPieces(meta, [&](const uint8_t* piece, int64_t elements) {
    const bool finite = checkedBlocks(piece, elements, [&](int64_t first, int64_t size) {
      addAndDivide(destination + first, piece + first * sizeof(float), size, static_cast<float>(members));
    });
    if (!finite) reject(describe(tag) + " carries NaN or Inf");
    destination += elements;
  });
  counted(meta);
}

void SocketChunkReceiver::copyInto(const RingTag& tag, at::Tensor& target) {
  const TensorMeta meta = readHeader(tag, target.numel());
  if (!readsInPieces(meta, target)) {
    target.copy_(readDecoded(tag, meta));
    return counted(meta);
  }
  float* destination = target.data_ptr<float>();
  readPieces(meta, [&](const uint8_t* piece, int64_t elements) {
    // Checked before it lands: a rejected segment leaves only finite, averaged values behind.
    const bool finite = checkedBlocks(piece, elements, [&](int64_t first, int64_t size) {
      std::memcpy(destination + first, piece + first * sizeof(float), static_cast<size_t>(size) * sizeof(float));
    });
    if (!finite) reject(describe(tag) + " carries NaN or Inf");
    destination += elements;
  });
  counted(meta);
}

TensorMeta SocketChunkReceiver::readHeader(const RingTag& tag, int64_t numel) {
  std::array<uint8_t, kChunkHeaderBytes> bytes;
  socket_.readAll(bytes.data(), bytes.size(), std::chrono::steady_clock::now() + deadline_,
                  describe(tag) + " of " + waitingFor_);
  ChunkFrameHeader header;
  try {
    header = decodeChunkHeader(bytes);
  } catch (const ProtocolError& error) {
    reject(error.what());
  }
  if (!sameTag(header.tag, tag)) reject("ring chunk: expected " + describe(tag) + ", got " + describe(header.tag));
  if (header.meta.numel() != numel || !at::isFloatingType(header.meta.dtype)) {
    reject(concat("ring chunk: ", describe(tag), " expects ", numel, " floating-point values, got ",
                  header.meta.numel(), " of ", header.meta.dtype));
  }
  return header.meta;
}

template <typename Consume>
void SocketChunkReceiver::readPieces(const TensorMeta& meta, Consume consume) {
  const auto pieceBytes = static_cast<int64_t>(bounce_.size() / sizeof(float) * sizeof(float));
  for (int64_t left = meta.byteCount; left > 0;) {
    const int64_t bytes = std::min(left, pieceBytes);
    socket_.readAll(bounce_.data(), static_cast<size_t>(bytes), std::chrono::steady_clock::now() + deadline_,
                    "a ring chunk of " + waitingFor_);
    consume(bounce_.data(), bytes / static_cast<int64_t>(sizeof(float)));
    left -= bytes;
  }
}

at::Tensor SocketChunkReceiver::readDecoded(const RingTag& tag, const TensorMeta& meta) {
  EncodedTensor encoded{meta, at::empty({meta.byteCount}, at::kByte)};
  socket_.readAll(encoded.bytes.data_ptr(), static_cast<size_t>(meta.byteCount),
                  std::chrono::steady_clock::now() + deadline_, "a ring chunk of " + waitingFor_);
  at::Tensor decoded = decodeTensor(encoded);
  if (!allFinite(decoded)) reject(describe(tag) + " carries NaN or Inf");
  return decoded;
}

void SocketChunkReceiver::reject(const std::string& reason) {
  writeVerdict(socket_, reason, std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
  throw ProtocolError(reason + " (from " + waitingFor_ + ")");
}

void SocketChunkReceiver::counted(const TensorMeta& meta) {
  if (traffic_) traffic_->receivedFrom.add(sender_, kChunkHeaderBytes + static_cast<uint64_t>(meta.byteCount));
}

}  // namespace ravnest::detail
