#pragma once

#include <cstdint>
#include <vector>

#include "ravnest/pipeline/schedule_policy.h"

namespace ravnest {

/// One stage of a simulated pipeline: its compute times in seconds and the bytes it sends downstream per
/// micro-batch (the gradient coming back has the same size).
struct SimulatedStage {
  double forward = 0;
  double backwardInputs = 0;   // B
  double backwardWeights = 0;  // W; under 1F1B it runs right after B, as one backward pass
  int64_t activationBytes = 0;
};

/// A link between neighbouring stages, the same in both directions: each direction carries one message at a
/// time (serialised at `bandwidth` bytes/s), which arrives `latency` seconds after it is sent.
struct SimulatedLink {
  double latency = 0;
  double bandwidth = 0;  // bytes per second; 0: infinite
};

struct SimulationSetup {
  std::vector<SimulatedStage> stages;
  SimulatedLink link;
  int64_t microBatches = 0;
  /// Micro-batches the root lets into the pipeline at once (the node's max_in_flight); 0: the stage count.
  int64_t maxInFlight = 0;
};

struct SimulationResult {
  double makespan = 0;                  // seconds until the last stage finished its last work
  double throughput = 0;                // micro-batches per second
  std::vector<double> busy;             // per stage, seconds
  std::vector<double> bubbleFractions;  // per stage, idle / makespan
  double bubbleFraction = 0;            // mean over the stages
};

/// A discrete-event simulation of a pipeline cluster training `microBatches` micro-batches, with simulated
/// time and links, in which every stage decides what to run next with the node's own SchedulePolicy. The
/// rules around the policy are the node's (src/node/compute_loop.cpp):
/// - the root admits a micro-batch while fewer than maxInFlight are in flight; one leaves when the root
///   finished its backward pass (its W under ZB);
/// - the last stage runs F, the loss and B as one piece of forward work (and W with 1F1B); under ZB its W
///   is deferred like every stage's;
/// - sending never holds up compute: outputs go to the link's queue when the work that made them ends.
/// Throws InvalidArgumentError for an empty pipeline, negative times or no micro-batches.
SimulationResult simulateSchedule(const SimulationSetup& setup, ScheduleKind schedule);

}  // namespace ravnest
