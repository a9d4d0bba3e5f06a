#include "node/checkpoint_schedule.h"

#include <ATen/ATen.h>

#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

constexpr const char* kAnnouncementName = "ravnest.checkpoint_at";

}  // namespace

CheckpointSchedule::CheckpointSchedule(Settings settings)
    : settings_(settings), lastMark_(std::chrono::steady_clock::now()) {}

uint64_t CheckpointSchedule::roundUp(uint64_t count) const {
  const uint64_t step = settings_.updateFrequency;
  return (count + step - 1) / step * step;
}

uint64_t CheckpointSchedule::markFor(uint64_t count, int64_t batch, uint64_t& announce) {
  announce = 0;
  if (batch <= previousBatch_ && epochLength_ == 0) epochLength_ = static_cast<uint64_t>(previousBatch_) + 1;
  previousBatch_ = batch;
  if (settings_.clusters > 1 && !settings_.coordinator) {
    std::lock_guard<std::mutex> lock(mutex_);
    while (!announced_.empty() && *announced_.begin() < count) {
      logger("checkpoints")->warn("the checkpoint announced for micro-batch {} came after it was fed: skipped",
                                  *announced_.begin());
      announced_.erase(announced_.begin());
    }
    if (announced_.empty() || *announced_.begin() != count) return 0;
    announced_.erase(announced_.begin());
    return count;
  }
  if (pendingOwn_ != 0) {
    if (count < pendingOwn_) return 0;
    pendingOwn_ = 0;
    lastMark_ = std::chrono::steady_clock::now();
    return count;
  }
  if (settings_.interval.count() <= 0 || std::chrono::steady_clock::now() - lastMark_ < settings_.interval) return 0;
  if (settings_.clusters == 1) {
    if (count % settings_.updateFrequency != 0) return 0;
    lastMark_ = std::chrono::steady_clock::now();
    return count;
  }
  const uint64_t period = settings_.reduceEvery > 0 ? settings_.reduceEvery : epochLength_;
  if (period == 0) return 0;  // per-epoch averaging, and no epoch seen whole yet
  pendingOwn_ = roundUp(count + 2 * period + settings_.window);
  announce = pendingOwn_;
  return 0;
}

void CheckpointSchedule::announced(uint64_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  announced_.insert(count);
}

Message CheckpointSchedule::announcement(uint64_t count) {
  Message message;
  message.kind = MessageKind::kControl;
  message.tensors.push_back({kAnnouncementName, at::full({1}, static_cast<int64_t>(count), at::kLong)});
  return message;
}

bool CheckpointSchedule::isAnnouncement(const Message& message) {
  return message.kind == MessageKind::kControl && message.tensors.size() == 1 &&
         message.tensors[0].name == kAnnouncementName;
}

uint64_t CheckpointSchedule::countOf(const Message& message) {
  const at::Tensor& value = message.tensors.at(0).tensor;
  RAVNEST_CHECK_AS(ProtocolError, value.numel() == 1, "a checkpoint announcement from ", message.sender,
                   " is malformed");
  const int64_t count = value.to(at::kLong).item<int64_t>();
  RAVNEST_CHECK_AS(ProtocolError, count > 0, "a checkpoint announcement from ", message.sender, " names count ",
                   count);
  return static_cast<uint64_t>(count);
}

}  // namespace ravnest::detail
