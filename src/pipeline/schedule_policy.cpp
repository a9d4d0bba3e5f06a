#include "ravnest/pipeline/schedule_policy.h"

#include "ravnest/common/error.h"

namespace ravnest {

ScheduleKind parseSchedule(const std::string& name) {
  if (name == "1f1b") return ScheduleKind::kOneFOneB;
  if (name == "zb") return ScheduleKind::kZeroBubble;
  throw InvalidArgumentError("unknown schedule '" + name + "': use '1f1b' or 'zb'");
}

std::string scheduleName(ScheduleKind kind) { return kind == ScheduleKind::kZeroBubble ? "zb" : "1f1b"; }

SchedulePolicy::SchedulePolicy(ScheduleKind kind, size_t maxDeferredWeight)
    : kind_(kind), maxDeferredWeight_(maxDeferredWeight) {
  RAVNEST_CHECK(maxDeferredWeight > 0, "the schedule must allow at least one deferred weight pass");
}

std::optional<WorkKind> SchedulePolicy::pick(const ReadyWork& ready) const {
  if (ready.urgent > 0) return WorkKind::kUrgent;
  if (ready.weight >= maxDeferredWeight_) return WorkKind::kWeight;
  const bool forwardFirst = splitsBackward() && ready.afterBackward;
  if (forwardFirst && ready.forward > 0) return WorkKind::kForward;
  if (ready.backward > 0) return WorkKind::kBackward;
  if (ready.forward > 0) return WorkKind::kForward;
  if (ready.weight > 0) return WorkKind::kWeight;
  return std::nullopt;
}

}  // namespace ravnest
