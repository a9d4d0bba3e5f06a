#include "ravnest/node/node.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "node/checkpoint_schedule.h"
#include "node/cluster_averaging.h"
#include "node/compute_loop.h"
#include "node/device_copies.h"
#include "node/failure.h"
#include "node/heartbeat_monitor.h"
#include "node/in_flight_window.h"
#include "node/inbox_pump.h"
#include "node/message_admission.h"
#include "node/job_peers.h"
#include "node/micro_batch_meta.h"
#include "node/peer_links.h"
#include "node/peer_traffic.h"
#include "node/prediction_mailbox.h"
#include "node/resume_agreement.h"
#include "node/stage_plan.h"
#include "node/stage_warm_up.h"
#include "node/training_summary.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"
#include "ravnest/pipeline/scheduler.h"

namespace ravnest {
namespace {

// How long a node tries to tell each peer an abort, a farewell or a checkpoint announcement before it gives up.
constexpr std::chrono::milliseconds kAbortDeadline{2000};
// How long a pump waits for room in the forward queue before it looks at its stop flag again.
constexpr std::chrono::milliseconds kPumpWait{200};

/// The options with traffic counters, so that the node's server and every client it makes count their bytes.
NodeOptions withTrafficCounters(NodeOptions options) {
  if (!options.transport.traffic) options.transport.traffic = std::make_shared<TrafficCounters>();
  return options;
}

/// The options with the job token of the node JSON unless the caller gave one; TLS all or nothing, since a
/// node both serves (certificate and key) and calls its peers (CA).
NodeOptions secured(NodeOptions options, const NodeConfig& config) {
  TransportOptions& transport = options.transport;
  if (transport.authToken.empty()) transport.authToken = config.jobToken;
  const int tlsFiles = !transport.tlsCertFile.empty() + !transport.tlsKeyFile.empty() + !transport.tlsCaFile.empty();
  RAVNEST_CHECK_AS(ConfigError, tlsFiles == 0 || tlsFiles == 3, config.name(),
                   ": TLS needs a certificate, its key and the CA file together (got ", tlsFiles, " of the 3)");
  return options;
}

/// The node whose backward passes reach this stage, as timeout messages name it; empty for the last stage.
std::string backwardSource(const NodeConfig& config) {
  const size_t next = static_cast<size_t>(config.stageIndex) + 1;
  if (next >= config.clusterNodes.size()) return {};
  const ClusterMember& member = config.clusterNodes[next];
  return member.name() + " (" + member.address + ")";
}

size_t inFlightLimit(const NodeOptions& options, const NodeConfig& config) {
  return static_cast<size_t>(options.maxInFlight > 0 ? options.maxInFlight : config.clusterLength);
}

detail::CheckpointSchedule::Settings checkpointSettings(const NodeOptions& options, const NodeConfig& config) {
  // Without job_nodes the other clusters' roots are unknown: their checkpoints could not be at the same counts.
  const bool otherRootsKnown = config.ringSize == 1 || config.jobNodesListed;
  if (!otherRootsKnown && options.checkpointInterval.count() > 0 && config.isRoot) {
    logger(config.name())->warn("no periodic checkpoints: this node JSON predates job_nodes, which a job of several "
                                "clusters needs for them; rerun clusterize");
  }
  return {otherRootsKnown ? options.checkpointInterval : std::chrono::milliseconds(0), static_cast<uint64_t>(std::max(options.updateFrequency, 1)),
          static_cast<uint64_t>(options.reduceEvery), inFlightLimit(options, config), config.ringSize,
          config.rank == 0};
}

}  // namespace

struct Node::Impl {
  Impl(const std::string& configPath, NodeOptions nodeOptions)
      : config(loadNodeConfig(configPath)),
        routing(loadStageRouting(config.routingPath())),
        plan(detail::StagePlan::from(routing)),
        options(secured(withTrafficCounters(std::move(nodeOptions)), config)),
        stage(config.submodulePath(), plan.inputRequiresGrad, options.device,
              {options.recompute, options.schedule == ScheduleKind::kZeroBubble}),
        server(config.name(), config.listenAddress(), options.transport),
        scheduler(options.transport.inboxCapacity,
                  SchedulePolicy(options.schedule, inFlightLimit(options, config))),
        links(config, options.transport),
        jobPeers(config, options.transport),
        resumeAgreement(config, jobPeers, options.resume, options.checkpoints),
        checkpoints(checkpointSettings(options, config)),
        copies(options.device),
        admission(config, plan, links),
        window(config.name(), inFlightLimit(options, config), backwardSource(config)),
        predictions(config.name()),
        averaging(server, config, options, stage, metrics),
        heartbeat(config, plan.peers(), options.transport, options.heartbeatInterval, options.peerLossGrace,
                  [this](std::exception_ptr lost) { stopEarly(std::move(lost), true); }) {
    RAVNEST_CHECK(options.updateFrequency > 0, config.name(), ": update_frequency must be at least 1");
    RAVNEST_CHECK_AS(ConfigError, routing.stage == config.stageIndex && routing.numStages == config.clusterLength,
                     config.name(), ": '", config.routingPath(), "' describes stage ", routing.stage, " of ",
                     routing.numStages, " but the node JSON says stage ", config.stageIndex, " of ",
                     config.clusterLength, ": rerun clusterize");
    admission.install(server);
    pumps.push_back(std::make_unique<detail::InboxPump>(
        config.name(), server.inbox(MessageKind::kActivation),
        [this](Message& message) {
          copies.toDevice(message);
          // A closed scheduler takes nothing more: the message is dropped instead of offered forever.
          return scheduler.pushForward(std::move(message), kPumpWait) || scheduler.closed();
        }));
    pumps.push_back(std::make_unique<detail::InboxPump>(
        config.name(), server.inbox(MessageKind::kGradient), [this](Message& message) {
          copies.toDevice(message);
          scheduler.pushBackward(std::move(message));
          return true;
        }));
    pumps.push_back(std::make_unique<detail::InboxPump>(
        config.name(), server.inbox(MessageKind::kControl), [this](Message& message) {
          onControl(message);
          return true;
        }));
  }

  ~Impl() {
    heartbeat.stop();
    scheduler.close();
    const auto closed = std::make_exception_ptr(Error(config.name() + " was closed"));
    window.fail(closed);
    predictions.fail(closed);
    if (computeThread.joinable()) computeThread.join();
    for (auto& pump : pumps) pump->stop();
    server.shutdown();
  }

  void runComputeThread(NodeHooks hooks) {
    detail::ComputeLoop loop({config, plan, options, resumeFrom, std::move(hooks), stage, scheduler, links, copies,
                              window, predictions, averaging, metrics, [this] { heartbeat.peersStarted(); }});
    try {
      loop.runOnComputeThread();
    } catch (...) {
      stopEarly(detail::stoppedBecause(config.name(), std::current_exception()), true);
    }
    heartbeat.stop();
    std::exception_ptr failure;
    {
      std::lock_guard<std::mutex> lock(stateMutex);
      failure = earlyStop;
    }
    // Finished normally: the neighbours stop watching this node's heartbeat before its process goes away.
    if (!failure) {
      // To every node of the cluster, not only the neighbours: the last stage also sends to the root (prediction
      // answers). Ordered by construction: a node says farewell only after its last flush, so this node's
      // server stays up until every node that may still confirm messages to it is done. One that failed instead
      // is given up after the grace.
      const std::set<int> others = links.otherStages();
      links.tellBestEffort(others, detail::farewellMessage(), kAbortDeadline);
      std::set<std::string> names;
      for (int stage : others) names.insert(config.clusterNodes[stage].name());
      if (!heartbeat.waitForFarewells(names, options.peerLossGrace)) {
        const double seconds = options.peerLossGrace.count() / 1000.0;
        logger(config.name())
            ->warn("not every node of the cluster said farewell within {} s; stopping anyway", seconds);
      }
    }
    if (!failure && loop.finishedTraining()) printSummary();
    const auto stopReason = failure ? failure : std::make_exception_ptr(Error(config.name() + " has shut down"));
    window.fail(stopReason);
    predictions.fail(stopReason);
    std::lock_guard<std::mutex> lock(stateMutex);
    stopped = true;
    saveRequested = loop.saveRequested();
    progress = loop.progress();
    stoppedBetweenSteps = loop.betweenSteps();
    computeStopped.notify_all();
  }

  /// The node's figures now: its own, the traffic with each peer, the server's counts and the inboxes' sizes.
  NodeMetricsSnapshot snapshot() {
    NodeMetricsSnapshot figures{metrics.figures(), detail::peerTraffic(config, *options.transport.traffic)};
    // Kept by the server, which counts them on gRPC threads.
    figures.figures["refused_requests"] = static_cast<double>(server.refusedRequests());
    figures.figures["rejected_messages"] = static_cast<double>(server.rejectedMessages());
    // Messages waiting in each inbox now: bounded by TransportOptions::inboxCapacity (the soak test checks it).
    for (MessageKind kind : {MessageKind::kActivation, MessageKind::kGradient, MessageKind::kControl}) {
      figures.figures["queued_" + messageKindName(kind)] = static_cast<double>(server.inbox(kind).size());
    }
    return figures;
  }

  /// The last thing a node says about a training run that ended at the shutdown marker: one line on stdout,
  /// whatever the log level, so that every provider's output ends with where its time went.
  void printSummary() {
    std::printf("%s\n", detail::trainingSummary(config.name(), snapshot()).c_str());
    std::fflush(stdout);
  }

  /// Stops the node because of `failure` (the first one wins) from any thread: logs it, wakes every waiting
  /// call, which throws it, lets the compute thread end once its current work is done and, with `tellPeers`,
  /// sends an abort to every other node of the cluster.
  void stopEarly(std::exception_ptr failure, bool tellPeers) {
    {
      std::lock_guard<std::mutex> lock(stateMutex);
      if (earlyStop || stopped) return;
      earlyStop = failure;
    }
    logger(config.name())->error("{}", detail::failureMessageOf(failure));
    resumeAgreement.abandon(failure);
    window.fail(failure);
    predictions.fail(failure);
    scheduler.close();
    computeStopped.notify_all();
    if (tellPeers) links.tellBestEffort(links.otherStages(), detail::abortMessage(failure), kAbortDeadline);
  }

  /// On the control pump's thread: a peer's abort stops this node with the peer's error type; a farewell
  /// ends the heartbeats to that peer.
  void onControl(const Message& message) {
    if (detail::isFarewell(message)) {
      heartbeat.forget(message.sender);
      return;
    }
    try {
      if (detail::ResumeAgreement::isResumeState(message)) {
        resumeAgreement.onState(message);
      } else if (detail::CheckpointSchedule::isAnnouncement(message)) {
        checkpoints.announced(detail::CheckpointSchedule::countOf(message));
      } else {
        stopEarly(detail::abortFailure(message, config.name()), false);
      }
    } catch (const std::exception& e) {  // a malformed message from a node of the job must not end this thread
      logger(config.name())->warn("ignoring a control message from {}: {}", message.sender, e.what());
    }
  }

  /// Feeding thread: the checkpoint mark of the next training micro-batch, the `batch`-th of its epoch; tells
  /// the other clusters' roots of a checkpoint they must mark too.
  uint64_t checkpointMark(int64_t batch) {
    uint64_t announce = 0;
    const uint64_t mark = checkpoints.markFor(resumeFrom.backwardPasses + ++fedTraining, batch, announce);
    if (announce == 0) return mark;
    // Best effort, briefly: a root that misses it takes no checkpoint at that count, and the next one follows.
    const auto giveUpAt = std::chrono::steady_clock::now() + kAbortDeadline;
    for (const JobMember& member : config.jobNodes) {
      if (member.stage != 0 || member.cluster == config.rank) continue;
      std::string failure = "it does not answer";
      try {
        if (jobPeers.sendUntil(member, detail::CheckpointSchedule::announcement(announce), giveUpAt, kPumpWait)) {
          continue;
        }
      } catch (const Error& e) {
        failure = e.what();
      }
      logger(config.name())->warn("could not announce the checkpoint at micro-batch {} to {} ({}): {}", announce,
                                  member.name(), member.address, failure);
    }
    return mark;
  }

  /// The root is fed every model input the routing names, so a micro-batch cannot wait forever for one.
  void checkModelInputs(const std::vector<NamedTensor>& modelInputs) const {
    for (const auto& input : routing.modelInputs) {
      const bool given = std::any_of(modelInputs.begin(), modelInputs.end(),
                                     [&](const NamedTensor& named) { return named.name == input.name; });
      RAVNEST_CHECK(given, config.name(), ": the model input '", input.name,
                    "' is missing from the micro-batch: every micro-batch needs all of the model's inputs");
    }
  }

  void requireRoot(const char* what) const {
    RAVNEST_CHECK(config.isRoot, config.name(), " is not the root of its cluster: only the root calls ", what);
  }

  /// Queues a forward-stream message on this (root) node and returns its micro-batch id.
  uint64_t feed(std::vector<NamedTensor> modelInputs, detail::MicroBatchMeta meta) {
    throwIfStopped();
    const uint64_t id = nextId;  // taken once the push succeeds: every stage expects every id
    Message work;
    work.kind = MessageKind::kActivation;
    work.sender = config.name();
    work.id = id;
    work.tensors = std::move(modelInputs);
    detail::attachMeta(work, meta);
    if (meta.kind == detail::StreamKind::kTrain) admission.expectGradients(id);
    const auto giveUp = std::chrono::steady_clock::now() + options.backwardTimeout;
    // pushForward leaves `work` untouched when it returns false, so it is offered again whole.
    while (!scheduler.pushForward(std::move(work), kPumpWait)) {  // NOLINT(bugprone-use-after-move)
      throwIfStopped();
      RAVNEST_CHECK_AS(TimeoutError, std::chrono::steady_clock::now() < giveUp, config.name(),
                       ": the pipeline took no work for ", options.backwardTimeout.count() / 1000, " s");
    }
    ++nextId;
    return id;
  }

  void throwIfStopped() {
    std::lock_guard<std::mutex> lock(stateMutex);
    if (earlyStop) std::rethrow_exception(earlyStop);
    RAVNEST_CHECK_AS(Error, !stopped, config.name(), " has shut down and takes no more work");
  }

  const NodeConfig config;
  const StageRouting routing;
  const detail::StagePlan plan;
  const NodeOptions options;
  NodeMetrics metrics;  // before `averaging`, which records into it
  Stage stage;
  PeerServer server;
  Scheduler scheduler;
  detail::PeerLinks links;
  detail::JobPeers jobPeers;
  detail::ResumeAgreement resumeAgreement;
  detail::CheckpointSchedule checkpoints;
  detail::DeviceCopies copies;
  detail::MessageAdmission admission;
  detail::InFlightWindow window;
  detail::PredictionMailbox predictions;
  detail::ClusterAveraging averaging;
  detail::HeartbeatMonitor heartbeat;
  std::vector<std::unique_ptr<detail::InboxPump>> pumps;
  std::thread computeThread;
  uint64_t nextId = 0;  // the feeding thread's
  uint64_t fedTraining = 0;  // the feeding thread's: training micro-batches fed since start
  TrainingProgress resumeFrom;  // set before start

  std::mutex stateMutex;
  std::condition_variable computeStopped;
  bool started = false;
  bool stopped = false;
  bool saveRequested = false;
  bool stoppedBetweenSteps = true;
  TrainingProgress progress;
  std::exception_ptr earlyStop;  // why the node stopped, when a failure stopped it; set at once
};

Node::Node(const std::string& configPath, NodeOptions options)
    : impl_(std::make_unique<Impl>(configPath, std::move(options))) {}

Node::~Node() = default;

void Node::start(NodeHooks hooks) {
  RAVNEST_CHECK(!impl_->config.isLeaf || hooks.leaf, impl_->config.name(),
                " is the leaf of its cluster: it needs a criterion (loss) and labels");
  {
    std::lock_guard<std::mutex> lock(impl_->stateMutex);
    RAVNEST_CHECK(!impl_->started, impl_->config.name(), " was started already");
    impl_->started = true;
  }
  // On the caller's thread, before any other thread of the node runs: the warm-up saves and restores the
  // process's random-number state, which no draw of the application may interleave with.
  detail::warmUpStage(impl_->stage, impl_->routing, impl_->config.name());
  impl_->computeThread = std::thread([this, hooks = std::move(hooks)]() mutable {
    impl_->runComputeThread(std::move(hooks));
  });
  impl_->heartbeat.start();
}

void Node::forwardCompute(std::vector<NamedTensor> modelInputs, int64_t epoch, int64_t batch) {
  impl_->requireRoot("forward_compute");
  impl_->checkModelInputs(modelInputs);
  impl_->window.acquire(impl_->options.backwardTimeout);
  try {
    const uint64_t checkpointAt = impl_->checkpointMark(batch);
    impl_->feed(std::move(modelInputs), {detail::StreamKind::kTrain, epoch, false, batch, checkpointAt});
  } catch (...) {
    impl_->window.release();  // the micro-batch never entered the pipeline
    throw;
  }
}

void Node::evaluateBatch(std::vector<NamedTensor> modelInputs, int64_t epoch) {
  impl_->requireRoot("no_grad_forward_compute");
  impl_->checkModelInputs(modelInputs);
  impl_->feed(std::move(modelInputs), {detail::StreamKind::kEval, epoch, false});
}

std::vector<NamedTensor> Node::predict(std::vector<NamedTensor> modelInputs, int64_t epoch) {
  impl_->requireRoot("pred");
  impl_->checkModelInputs(modelInputs);
  const uint64_t id = impl_->feed(std::move(modelInputs), {detail::StreamKind::kPredict, epoch, false});
  return impl_->predictions.take(id, impl_->options.backwardTimeout);
}

void Node::endEvaluation(int64_t epoch) {
  impl_->requireRoot("the end of validation");
  impl_->feed({}, {detail::StreamKind::kEvalEnd, epoch, false});
}

void Node::waitForBackwards() {
  impl_->requireRoot("wait_for_backwards");
  impl_->window.waitUntilEmpty(impl_->options.backwardTimeout);
}

void Node::finishTraining(bool save) {
  waitForBackwards();
  impl_->feed({}, {detail::StreamKind::kShutdown, 0, save});
  RAVNEST_CHECK_AS(TimeoutError, waitUntilStopped(impl_->options.backwardTimeout), impl_->config.name(),
                   ": the pipeline did not shut down in time");
}

bool Node::waitUntilStopped(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->stateMutex);
  impl_->computeStopped.wait_for(lock, timeout, [&] { return impl_->stopped || impl_->earlyStop; });
  if (impl_->earlyStop) std::rethrow_exception(impl_->earlyStop);
  return impl_->stopped;
}

bool Node::waitForComputeThread(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->stateMutex);
  return impl_->computeStopped.wait_for(lock, timeout, [&] { return impl_->stopped || !impl_->started; });
}

void Node::stop(const std::string& reason) {
  impl_->stopEarly(std::make_exception_ptr(Error(impl_->config.name() + " stopped: " + reason)), true);
}

TrainingProgress Node::progress() const {
  std::lock_guard<std::mutex> lock(impl_->stateMutex);
  return impl_->stopped ? impl_->progress : impl_->resumeFrom;
}

uint64_t Node::agreeOnResume() {
  RAVNEST_CHECK(impl_->options.resume, impl_->config.name(), ": agreeOnResume needs NodeOptions::resume");
  RAVNEST_CHECK_AS(ConfigError, impl_->config.ringSize == 1 || impl_->config.jobNodesListed, impl_->config.name(),
                   ": resuming a job of several clusters needs every node of the job, and this node JSON predates "
                   "job_nodes: rerun clusterize");
  return impl_->resumeAgreement.agree(impl_->options.startupTimeout);
}

void Node::resumeAt(TrainingProgress progress) {
  std::lock_guard<std::mutex> lock(impl_->stateMutex);
  RAVNEST_CHECK(!impl_->started, impl_->config.name(), ": resumeAt must come before start");
  RAVNEST_CHECK(progress.epoch >= 0, impl_->config.name(), ": the epoch to resume at must not be negative, got ",
                progress.epoch);
  impl_->resumeFrom = progress;
}

bool Node::stoppedBetweenSteps() const {
  std::lock_guard<std::mutex> lock(impl_->stateMutex);
  return impl_->stoppedBetweenSteps;
}

bool Node::saveRequested() const {
  std::lock_guard<std::mutex> lock(impl_->stateMutex);
  return impl_->saveRequested;
}

const NodeConfig& Node::config() const { return impl_->config; }
const StageRouting& Node::routing() const { return impl_->routing; }
Stage& Node::stage() { return impl_->stage; }
uint64_t Node::clusterAverages() const { return impl_->averaging.completed(); }
uint64_t Node::refusedRequests() const { return impl_->server.refusedRequests(); }
uint64_t Node::rejectedMessages() const { return impl_->server.rejectedMessages(); }

NodeMetricsSnapshot Node::metrics() const { return impl_->snapshot(); }

int Node::port() const { return impl_->server.port(); }

}  // namespace ravnest
