// The simulator keeps, per stage, what a node's Scheduler hands to the SchedulePolicy (forward work, backward
// work, deferred W, whether the last F or B was a B) plus which micro-batch each queue holds, and an event queue of
// completions and arrivals in simulated time. Whenever a stage is free it asks the policy, exactly as the
// compute thread does after each piece of work, and books the chosen work for its duration.
#include "ravnest/pipeline/schedule_simulator.h"

#include <algorithm>
#include <deque>
#include <queue>
#include <tuple>

#include "ravnest/common/error.h"

namespace ravnest {
namespace {

enum class EventKind { kWorkDone, kActivationArrives, kGradientArrives };

struct Event {
  double time;
  uint64_t sequence;  // ties keep the order events were booked in
  EventKind kind;
  int stage;
  int64_t microBatch;
  WorkKind work;  // kWorkDone: what finished
  bool operator>(const Event& other) const {
    return std::tie(time, sequence) > std::tie(other.time, other.sequence);
  }
};

struct StageState {
  std::deque<int64_t> forward, backward, deferredWeight;
  bool busy = false;
  bool afterBackward = false;
  double busySeconds = 0;
};

/// One direction of one link: messages leave one after another.
struct LinkDirection {
  double freeAt = 0;
};

class Simulation {
 public:
  Simulation(const SimulationSetup& setup, ScheduleKind schedule)
      : setup_(setup),
        limit_(setup.maxInFlight > 0 ? setup.maxInFlight : static_cast<int64_t>(setup.stages.size())),
        policy_(schedule, static_cast<size_t>(limit_)),
        stages_(setup.stages.size()),
        downstream_(setup.stages.size()),
        upstream_(setup.stages.size()) {}

  SimulationResult run() {
    admit();
    dispatchAll();
    while (!events_.empty()) {
      // Everything that happens at one instant is known before any stage picks, as a node's compute thread
      // would see an input arriving just as its work ends; picking in between would let the booking order of
      // simultaneous events decide the schedule.
      now_ = events_.top().time;
      while (!events_.empty() && events_.top().time <= now_) {
        const Event event = events_.top();
        events_.pop();
        handle(event);
      }
      dispatchAll();
    }
    RAVNEST_CHECK(finished_ == setup_.microBatches, "the simulated pipeline stalled after ", finished_, " of ",
                  setup_.microBatches, " micro-batches");
    SimulationResult result;
    result.makespan = now_;
    result.throughput = now_ > 0 ? static_cast<double>(setup_.microBatches) / now_ : 0;
    for (const auto& stage : stages_) {
      result.busy.push_back(stage.busySeconds);
      result.bubbleFractions.push_back(now_ > 0 ? 1 - stage.busySeconds / now_ : 0);
      result.bubbleFraction += result.bubbleFractions.back() / static_cast<double>(stages_.size());
    }
    return result;
  }

 private:
  int last() const { return static_cast<int>(stages_.size()) - 1; }

  void book(double time, EventKind kind, int stage, int64_t microBatch, WorkKind work = WorkKind::kForward) {
    events_.push({time, sequence_++, kind, stage, microBatch, work});
  }

  /// The root feeds micro-batches while the in-flight window has room.
  void admit() {
    while (fed_ < setup_.microBatches && inFlight_ < limit_) {
      stages_[0].forward.push_back(fed_++);
      ++inFlight_;
    }
  }

  void send(std::vector<LinkDirection>& direction, int from, int to, int64_t microBatch, EventKind kind) {
    const int64_t bytes = setup_.stages[std::min(from, to)].activationBytes;
    LinkDirection& link = direction[std::min(from, to)];
    const double start = std::max(now_, link.freeAt);
    const double serialise = setup_.link.bandwidth > 0 ? static_cast<double>(bytes) / setup_.link.bandwidth : 0;
    link.freeAt = start + serialise;
    book(link.freeAt + setup_.link.latency, kind, to, microBatch);
  }

  double durationOf(int stage, WorkKind work) const {
    const SimulatedStage& times = setup_.stages[stage];
    const bool split = policy_.splitsBackward();
    const double backward = times.backwardInputs + (split ? 0 : times.backwardWeights);
    switch (work) {
      case WorkKind::kForward:
        return stage == last() ? times.forward + backward : times.forward;
      case WorkKind::kBackward:
        return backward;
      case WorkKind::kWeight:
        return times.backwardWeights;
      case WorkKind::kUrgent:
        break;
    }
    return 0;
  }

  void dispatchAll() {
    for (size_t stage = 0; stage < stages_.size(); ++stage) dispatch(static_cast<int>(stage));
  }

  void dispatch(int stage) {
    StageState& state = stages_[stage];
    if (state.busy) return;
    const auto work = policy_.pick(
        {0, state.backward.size(), state.forward.size(), state.deferredWeight.size(), state.afterBackward});
    if (!work) return;
    if (*work != WorkKind::kWeight) state.afterBackward = *work == WorkKind::kBackward;
    std::deque<int64_t>& queue = *work == WorkKind::kBackward ? state.backward
                                 : *work == WorkKind::kForward ? state.forward
                                                               : state.deferredWeight;
    const int64_t microBatch = queue.front();
    queue.pop_front();
    const double duration = durationOf(stage, *work);
    state.busy = true;
    state.busySeconds += duration;
    book(now_ + duration, EventKind::kWorkDone, stage, microBatch, *work);
  }

  void handle(const Event& event) {
    StageState& state = stages_[event.stage];
    switch (event.kind) {
      case EventKind::kActivationArrives:
        state.forward.push_back(event.microBatch);
        return;
      case EventKind::kGradientArrives:
        state.backward.push_back(event.microBatch);
        return;
      case EventKind::kWorkDone:
        state.busy = false;
        workDone(event.stage, event.work, event.microBatch);
        return;
    }
  }

  void workDone(int stage, WorkKind work, int64_t microBatch) {
    const bool backwardDone = work == WorkKind::kBackward || (work == WorkKind::kForward && stage == last());
    if (work == WorkKind::kForward && stage != last()) {
      send(downstream_, stage, stage + 1, microBatch, EventKind::kActivationArrives);
      return;
    }
    if (backwardDone) {
      if (stage > 0) send(upstream_, stage, stage - 1, microBatch, EventKind::kGradientArrives);
      if (policy_.splitsBackward()) {
        stages_[stage].deferredWeight.push_back(microBatch);
        return;
      }
    }
    // The micro-batch is done on this stage: B and W (1F1B), or its W (ZB).
    if (stage == 0) {
      --inFlight_;
      ++finished_;
      admit();
    }
  }

  const SimulationSetup& setup_;
  const int64_t limit_;
  const SchedulePolicy policy_;
  std::vector<StageState> stages_;
  std::vector<LinkDirection> downstream_, upstream_;  // by the lower stage of the link
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  uint64_t sequence_ = 0;
  double now_ = 0;
  int64_t fed_ = 0;
  int64_t inFlight_ = 0;
  int64_t finished_ = 0;
};

}  // namespace

SimulationResult simulateSchedule(const SimulationSetup& setup, ScheduleKind schedule) {
  RAVNEST_CHECK(!setup.stages.empty(), "the simulated pipeline needs at least one stage");
  RAVNEST_CHECK(setup.microBatches > 0, "the simulation needs at least one micro-batch, got ", setup.microBatches);
  RAVNEST_CHECK(setup.maxInFlight >= 0, "max_in_flight must not be negative, got ", setup.maxInFlight);
  RAVNEST_CHECK(setup.link.latency >= 0 && setup.link.bandwidth >= 0, "link latency and bandwidth must not be negative");
  for (const auto& stage : setup.stages) {
    RAVNEST_CHECK(stage.forward >= 0 && stage.backwardInputs >= 0 && stage.backwardWeights >= 0 &&
                      stage.activationBytes >= 0,
                  "stage times and sizes must not be negative");
  }
  return Simulation(setup, schedule).run();
}

}  // namespace ravnest
