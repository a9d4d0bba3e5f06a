#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>

#include "ravnest/comm/message.h"

namespace ravnest::detail {

/// Which training micro-batches the root marks for a checkpoint (MicroBatchMeta::checkpointAt), so that every
/// stage, and with several clusters every cluster, snapshots after the same micro-batches: a consistent cut.
/// Counts are training micro-batches since the start of training (1 is the first), which every stage counts
/// alike as backward passes.
/// - One cluster: the first micro-batch fed once `interval` passed since the last mark (or the start) whose
///   count is a multiple of update_frequency, so no checkpoint holds half-accumulated gradients.
/// - Several clusters: the first cluster's root (the coordinator) decides when, and picks a count so far ahead
///   that no other root has fed it yet: every cluster may run ahead of another by at most one averaging period
///   plus the in-flight window, so two periods plus the window suffice. It marks the count itself and
///   announces it to the other roots (announcement()), which mark the same count (announced()).
/// Feeding thread, except announced() (control pump). Thread-safe.
class CheckpointSchedule {
 public:
  struct Settings {
    std::chrono::milliseconds interval{0};  // 0: no periodic checkpoints
    uint64_t updateFrequency = 1;
    uint64_t reduceEvery = 0;  // 0: the clusters average once per epoch
    uint64_t window = 1;       // training micro-batches in flight at most
    int clusters = 1;
    bool coordinator = true;  // the first cluster's root
  };

  explicit CheckpointSchedule(Settings settings);

  /// The micro-batch of `count`, `batch`-th of its epoch, is fed: returns `count` when it is to be marked,
  /// else 0. Sets `announce` to a count the other clusters' roots must mark, else 0.
  uint64_t markFor(uint64_t count, int64_t batch, uint64_t& announce);
  /// Another cluster's root asked to mark `count`.
  void announced(uint64_t count);

  static Message announcement(uint64_t count);
  static bool isAnnouncement(const Message& message);
  /// The count an announcement carries. Throws ProtocolError when malformed.
  static uint64_t countOf(const Message& message);

 private:
  uint64_t roundUp(uint64_t count) const;

  const Settings settings_;
  std::chrono::steady_clock::time_point lastMark_;
  uint64_t epochLength_ = 0;  // batches per epoch, once one epoch was seen whole (per-epoch averaging)
  int64_t previousBatch_ = -1;
  uint64_t pendingOwn_ = 0;  // the coordinator's announced count, not fed yet
  std::mutex mutex_;
  std::set<uint64_t> announced_;
};

}  // namespace ravnest::detail
