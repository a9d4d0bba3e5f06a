#include "node/stage_clock.h"

namespace ravnest::detail {
namespace {

constexpr const char* kBusyFigure[] = {"forward_seconds", "backward_seconds", "weight_seconds", "optimizer_seconds"};

double seconds(StageClock::Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

}  // namespace

void StageClock::start() {
  started_ = now();
  publishWall();
}

void StageClock::addBusy(Busy kind, Clock::duration duration) {
  busy_[kind] += seconds(duration);
  metrics_.set(kBusyFigure[kind], busy_[kind]);
  publishWall();
}

void StageClock::addIdle(Clock::duration duration) {
  idle_ += seconds(duration);
  metrics_.set("idle_seconds", idle_);
  publishWall();
}

void StageClock::publishWall() {
  const double wall = seconds(now() - started_);
  metrics_.set("wall_seconds", wall);
  metrics_.set("bubble_fraction", wall > 0 ? idle_ / wall : 0.0);
}

}  // namespace ravnest::detail
