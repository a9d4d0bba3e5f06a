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

/// One unit of transfer between peers: a typed header and any number of tensors.
struct Message {
  MessageKind kind = MessageKind::kActivation;
  std::string sender;  // node name of the sender, as it declared itself
  uint64_t id = 0;     // micro-batch id, or a step tag for ring chunks
  std::vector<NamedTensor> tensors;
};

}  // namespace ravnest
