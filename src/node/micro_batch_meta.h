#pragma once

#include <cstdint>
#include <string>

#include "ravnest/comm/message.h"

namespace ravnest::detail {

/// What a forward-stream message carries besides its tensors. Markers travel the same stream as the
/// micro-batches, stage after stage, so a stage meets them only after every micro-batch sent before them.
/// kPredict runs like kEval; the last stage answers it with a kPrediction message to the root that holds
/// the model output.
enum class StreamKind : int64_t {
  kTrain = 0,
  kEval = 1,
  kEvalEnd = 2,
  kShutdown = 3,
  kPredict = 4,
  kPrediction = 5,
};

struct MicroBatchMeta {
  StreamKind kind = StreamKind::kTrain;
  int64_t epoch = 0;
  bool save = false;  // kShutdown: every stage saves its submodel first
};

/// Adds `meta` to a forward-stream message as one small int64 tensor.
void attachMeta(Message& message, const MicroBatchMeta& meta);
/// Removes the meta tensor from `message` and returns it. Throws ProtocolError naming the sender when it is
/// missing or malformed.
MicroBatchMeta takeMeta(Message& message);

/// A control message telling a peer that this node stopped because of `reason`.
Message abortMessage(const std::string& reason);
/// The reason an abort message carries. Throws ProtocolError when `message` is not one.
std::string abortReason(const Message& message);

}  // namespace ravnest::detail
