#pragma once

#include <cstdint>
#include <exception>
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
  /// kTrain: the micro-batch's index within its epoch, so that the leaf takes the matching labels also when
  /// the root resumed mid-epoch from a checkpoint.
  int64_t batch = 0;
  /// kTrain: when not 0, every stage snapshots its state (a checkpoint) once its backward passes reach this
  /// count: the micro-batches up to and including this one, on every stage alike (a consistent cut).
  uint64_t checkpointAt = 0;
};

/// Adds `meta` to a forward-stream message as one small int64 tensor.
void attachMeta(Message& message, const MicroBatchMeta& meta);
/// Removes the meta tensor from `message` and returns it. Throws ProtocolError naming the sender when it is
/// missing or malformed.
MicroBatchMeta takeMeta(Message& message);
/// Whether `named` is the micro-batch header that attachMeta adds.
bool isMetaTensor(const NamedTensor& named);

/// A control message telling a peer that this node stopped because of `failure` (the current exception's
/// what() and type travel, so the peer stops with the same type).
Message abortMessage(const std::exception_ptr& failure);
/// A control message telling a pipeline neighbour that this node finished normally and may go away: the
/// neighbour stops watching its heartbeat.
Message farewellMessage();
bool isFarewell(const Message& message);
/// The failure an abort message reports, as `<nodeName>: stopping because <reason>` of the sender's error
/// type. Throws ProtocolError when `message` is neither an abort nor a farewell.
std::exception_ptr abortFailure(const Message& message, const std::string& nodeName);

}  // namespace ravnest::detail
