#include "ravnest/pipeline/schedule_simulator.h"

#include <gtest/gtest.h>

#include "ravnest/common/error.h"

namespace ravnest {
namespace {

SimulationSetup uniform(int stages, int64_t microBatches, double f, double b, double w) {
  SimulationSetup setup;
  setup.stages.assign(stages, SimulatedStage{f, b, w, 0});
  setup.microBatches = microBatches;
  return setup;
}

// The bubbles of "Zero Bubble Pipeline Parallelism" (ICLR 2024) for p stages and m micro-batches:
// 1F1B idles (p-1)(F+B+W) per stage, ZB-H1 (p-1)(F+B-W); as fractions of each stage's wall time.
double analyticBubble(int p, int64_t m, double f, double b, double w, bool zeroBubble) {
  const double idle = (p - 1) * (zeroBubble ? f + b - w : f + b + w);
  return idle / (static_cast<double>(m) * (f + b + w) + idle);
}

// Idle time per stage, in units of the stage times.
double idlePerStage(const SimulationResult& result) { return result.makespan - result.busy.front(); }

TEST(ScheduleSimulatorTest, UniformStagesReachTheAnalyticBubblesOf1F1BAndZeroBubbleH1) {
  // F = B = W = 1, 64 micro-batches: 1F1B idles (p-1)(F+B+W) = 3(p-1) units per stage, ZB-H1 (p-1)(F+B-W) =
  // p-1. The policy's ZB meets ZB-H1's bound because a stage runs F right after each B and keeps its W
  // passes for idle time, so the later stages hold W passes back for the drain at the end.
  for (int stages : {4, 8, 16}) {
    const auto setup = uniform(stages, 64, 1.0, 1.0, 1.0);
    const auto oneFOneB = simulateSchedule(setup, ScheduleKind::kOneFOneB);
    const auto zeroBubble = simulateSchedule(setup, ScheduleKind::kZeroBubble);
    EXPECT_NEAR(idlePerStage(oneFOneB), 3.0 * (stages - 1), 1e-9) << stages << " stages";
    EXPECT_NEAR(idlePerStage(zeroBubble), 1.0 * (stages - 1), 1e-9) << stages << " stages";
    EXPECT_NEAR(oneFOneB.bubbleFraction, analyticBubble(stages, 64, 1, 1, 1, false), 1e-9);
    EXPECT_NEAR(zeroBubble.bubbleFraction, analyticBubble(stages, 64, 1, 1, 1, true), 1e-9);
  }
}

TEST(ScheduleSimulatorTest, ZeroBubbleIdlesLessThan1F1BWithUnevenStagesAndSlowLinks) {
  auto setup = uniform(6, 48, 1.0, 1.0, 1.0);
  for (int stage = 0; stage < 6; ++stage) {
    const double scale = 1.0 + stage % 3 * 0.5;
    setup.stages[stage] = {scale, 1.2 * scale, 0.8 * scale, 1000};
  }
  setup.link = {0.3, 4000.0};
  EXPECT_LT(simulateSchedule(setup, ScheduleKind::kZeroBubble).makespan,
            simulateSchedule(setup, ScheduleKind::kOneFOneB).makespan);
}

TEST(ScheduleSimulatorTest, TheSlowestStageBoundsThroughput) {
  auto setup = uniform(3, 200, 0.01, 0.01, 0.01);
  setup.stages[1] = {0.02, 0.02, 0.02, 0};
  for (auto schedule : {ScheduleKind::kOneFOneB, ScheduleKind::kZeroBubble}) {
    const auto result = simulateSchedule(setup, schedule);
    EXPECT_NEAR(result.throughput, 1 / 0.06, 1 / 0.06 * 0.05) << scheduleName(schedule);
    EXPECT_LT(result.bubbleFractions[1], 0.05);
    EXPECT_GT(result.bubbleFractions[0], 0.4);
  }
}

TEST(ScheduleSimulatorTest, LinksAddLatencyAndSerialiseTransfers) {
  auto setup = uniform(2, 1, 0.0, 0.0, 0.0);
  setup.stages[0].activationBytes = 1000;
  setup.link = {0.5, 1000.0};
  // One micro-batch: 1 s to serialise and 0.5 s latency down, the same back.
  EXPECT_NEAR(simulateSchedule(setup, ScheduleKind::kOneFOneB).makespan, 3.0, 1e-9);
  setup.microBatches = 10;
  setup.maxInFlight = 10;
  // Ten activations share the link: the last leaves after 10 s; its gradient is back 1.5 s after arriving.
  EXPECT_NEAR(simulateSchedule(setup, ScheduleKind::kOneFOneB).makespan, 10.5 + 1.5, 1e-9);
}

TEST(ScheduleSimulatorTest, SynchronousPipelineRunsOneMicroBatchAtATime) {
  auto setup = uniform(3, 5, 1.0, 1.0, 1.0);
  setup.maxInFlight = 1;
  // 1F1B: F F (F+B+W) (B+W) (B+W) one after another. ZB: F F (F+B) B B W, the other stages' W overlapping.
  EXPECT_NEAR(simulateSchedule(setup, ScheduleKind::kOneFOneB).makespan, 5 * 9.0, 1e-9);
  EXPECT_NEAR(simulateSchedule(setup, ScheduleKind::kZeroBubble).makespan, 5 * 7.0, 1e-9);
}

TEST(ScheduleSimulatorTest, RefusesSetupsThatMakeNoSense) {
  EXPECT_THROW(simulateSchedule(SimulationSetup{}, ScheduleKind::kOneFOneB), InvalidArgumentError);
  EXPECT_THROW(simulateSchedule(uniform(2, 0, 1, 1, 1), ScheduleKind::kOneFOneB), InvalidArgumentError);
  EXPECT_THROW(simulateSchedule(uniform(2, 4, -1, 1, 1), ScheduleKind::kZeroBubble), InvalidArgumentError);
}

}  // namespace
}  // namespace ravnest
