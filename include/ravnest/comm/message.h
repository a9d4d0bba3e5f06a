#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ravnest {

/// What a message carries. Each kind has its own inbox on the receiving node.
enum class MessageKind { kActivation, kGradient, kRingChunk, kControl };
constexpr size_t kMessageKindCount = 4;

std::string messageKindName(MessageKind kind);

struct NamedTensor {
  std::string name;
  at::Tensor tensor;
};

/// Where a ring all-reduce chunk belongs (kRingChunk messages only).
struct RingTag {
  uint32_t ringId = 0;
  uint64_t round = 0;
  uint32_t phase = 0;  // 0: reduce-scatter, 1: all-gather
  uint32_t step = 0;
  uint32_t segment = 0;
};

/// One unit of transfer between peers: a typed header and any number of tensors.
struct Message {
  MessageKind kind = MessageKind::kActivation;
  std::string sender;  // node name of the sender, as it declared itself
  uint64_t id = 0;     // micro-batch id, or a step tag for ring chunks
  std::vector<NamedTensor> tensors;
  RingTag ring;  // kRingChunk only
};

}  // namespace ravnest
