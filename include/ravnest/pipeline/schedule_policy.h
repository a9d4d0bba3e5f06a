#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace ravnest {

/// The pipeline schedules a stage can run.
enum class ScheduleKind {
  /// Asynchronous 1F1B: a backward pass computes the input and the weight gradients together.
  kOneFOneB,
  /// Zero bubble (ZB-H1, "Zero Bubble Pipeline Parallelism", ICLR 2024): a backward pass is split into B, the
  /// gradient of the stage's inputs, sent upstream at once, and W, the gradient of its weights, deferred to
  /// time the stage would otherwise sit idle.
  kZeroBubble,
};

/// "1f1b" or "zb"; throws InvalidArgumentError for anything else.
ScheduleKind parseSchedule(const std::string& name);
std::string scheduleName(ScheduleKind kind);

/// The kinds of work a stage's compute thread runs.
enum class WorkKind {
  kUrgent,    // control (an abort): always first
  kBackward,  // B (with ZB) or B and W together (with 1F1B)
  kForward,   // F; on the leaf F, the loss and B (and W with 1F1B)
  kWeight,    // W, ZB only
};

/// What a stage could run right now.
struct ReadyWork {
  size_t urgent = 0;
  size_t backward = 0;
  size_t forward = 0;
  size_t weight = 0;  // deferred W passes
  /// Whether the stage's last F or B was a B.
  bool afterBackward = false;
};

/// The scheduling decision, and nothing else: no clock, no threads, no queues. The node's Scheduler asks it
/// under its lock and the schedule simulator asks it at simulated times, so both run the same logic.
///
/// 1F1B runs backward work before forward work (a pending gradient unblocks the stage upstream). ZB does too,
/// except right after a B: then a ready F goes first, ZB-H1's F B W order. Preferring B there would send the
/// next micro-batch down late, the later stages would run out of F and spend their deferred W passes early,
/// and those W passes are what fills the drain at the end (ZB-H1's whole gain over 1F1B). ZB runs W only when
/// nothing else is ready, unless `maxDeferredWeight` W passes are waiting: then W first, which bounds the
/// activations held for W as the in-flight limit bounds them under 1F1B.
class SchedulePolicy {
 public:
  SchedulePolicy(ScheduleKind kind, size_t maxDeferredWeight);

  /// The kind of work to run next, or nullopt when nothing is ready.
  std::optional<WorkKind> pick(const ReadyWork& ready) const;

  ScheduleKind kind() const { return kind_; }
  /// Whether backward passes are split into B and a deferred W.
  bool splitsBackward() const { return kind_ == ScheduleKind::kZeroBubble; }

 private:
  ScheduleKind kind_;
  size_t maxDeferredWeight_;
};

}  // namespace ravnest
