#include "node/stage_clock.h"

#include <cstdio>

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

std::string StageClock::summary() const {
  const double wall = seconds(now() - started_);
  char line[256];
  std::snprintf(line, sizeof line,
                "time: wall %.2f s, F %.2f s, B %.2f s, W %.2f s, optimizer %.2f s, idle %.2f s, bubble %.3f", wall,
                busy_[kForward], busy_[kBackward], busy_[kWeight], busy_[kOptimizer], idle_,
                wall > 0 ? idle_ / wall : 0.0);
  return line;
}

}  // namespace ravnest::detail
