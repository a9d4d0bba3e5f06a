#include "ravnest/node/node.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include <c10/util/Exception.h>

#include "node/cluster_averaging.h"
#include "node/compute_loop.h"
#include "node/in_flight_window.h"
#include "node/inbox_pump.h"
#include "node/micro_batch_meta.h"
#include "node/peer_links.h"
#include "node/prediction_mailbox.h"
#include "node/stage_plan.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"
#include "ravnest/pipeline/scheduler.h"

namespace ravnest {
namespace {

// How long a failing node tries to tell each peer before it gives up on it.
constexpr std::chrono::milliseconds kAbortDeadline{2000};
// How long a pump waits for room in the forward queue before it looks at its stop flag again.
constexpr std::chrono::milliseconds kPumpWait{200};

/// The current exception with the node's name in front, keeping ravnest's error types.
std::exception_ptr failureOf(const std::string& nodeName) {
  const std::string prefix = nodeName + " stopped: ";
  const auto describe = [&](std::string what) {
    const std::string ownName = nodeName + ": ";
    if (what.rfind(ownName, 0) == 0) what.erase(0, ownName.size());
    return prefix + what;
  };
  try {
    throw;
  } catch (const TimeoutError& e) {
    return std::make_exception_ptr(TimeoutError(describe(e.what())));
  } catch (const NetworkError& e) {
    return std::make_exception_ptr(NetworkError(describe(e.what())));
  } catch (const ProtocolError& e) {
    return std::make_exception_ptr(ProtocolError(describe(e.what())));
  } catch (const ConfigError& e) {
    return std::make_exception_ptr(ConfigError(describe(e.what())));
  } catch (const c10::Error& e) {
    return std::make_exception_ptr(Error(describe(e.what_without_backtrace())));
  } catch (const std::exception& e) {
    return std::make_exception_ptr(Error(describe(e.what())));
  } catch (...) {
    return std::make_exception_ptr(Error(describe("an unknown error")));
  }
}

size_t inFlightLimit(const NodeOptions& options, const NodeConfig& config) {
  return static_cast<size_t>(options.maxInFlight > 0 ? options.maxInFlight : config.clusterLength);
}

}  // namespace

struct Node::Impl {
  Impl(const std::string& configPath, NodeOptions nodeOptions)
      : config(loadNodeConfig(configPath)),
        routing(loadStageRouting(config.routingPath())),
        plan(detail::StagePlan::from(routing)),
        options(std::move(nodeOptions)),
        stage(config.submodulePath(), plan.inputRequiresGrad, options.device),
        server(config.name(), config.listenAddress(), options.transport),
        scheduler(options.transport.inboxCapacity),
        links(config, options.transport),
        window(config.name(), inFlightLimit(options, config)),
        predictions(config.name()),
        averaging(server, config, options, stage) {
    RAVNEST_CHECK(options.updateFrequency > 0, config.name(), ": update_frequency must be at least 1");
    RAVNEST_CHECK_AS(ConfigError, routing.stage == config.stageIndex && routing.numStages == config.clusterLength,
                     config.name(), ": '", config.routingPath(), "' describes stage ", routing.stage, " of ",
                     routing.numStages, " but the node JSON says stage ", config.stageIndex, " of ",
                     config.clusterLength, ": rerun clusterize");
    pumps.push_back(std::make_unique<detail::InboxPump>(
        config.name(), server.inbox(MessageKind::kActivation),
        [this](Message& message) {
          // A closed scheduler takes nothing more: the message is dropped instead of offered forever.
          return scheduler.pushForward(std::move(message), kPumpWait) || scheduler.closed();
        }));
    pumps.push_back(std::make_unique<detail::InboxPump>(
        config.name(), server.inbox(MessageKind::kGradient), [this](Message& message) {
          scheduler.pushBackward(std::move(message));
          return true;
        }));
    pumps.push_back(std::make_unique<detail::InboxPump>(
        config.name(), server.inbox(MessageKind::kControl), [this](Message& message) {
          scheduler.pushUrgent(std::move(message));
          return true;
        }));
  }

  ~Impl() {
    scheduler.close();
    const auto closed = std::make_exception_ptr(Error(config.name() + " was closed"));
    window.fail(closed);
    predictions.fail(closed);
    if (computeThread.joinable()) computeThread.join();
    for (auto& pump : pumps) pump->stop();
    server.shutdown();
  }

  void runComputeThread(NodeHooks hooks) {
    detail::ComputeLoop loop(
        {config, plan, options, std::move(hooks), stage, scheduler, links, window, predictions, averaging});
    std::exception_ptr failure;
    try {
      loop.runOnComputeThread();
    } catch (...) {
      failure = failureOf(config.name());
    }
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        logger(config.name())->error("{}", e.what());
        if (!loop.stoppedByPeer()) links.broadcastAbort(e.what(), kAbortDeadline);
      }
    }
    const auto stopReason = failure ? failure : std::make_exception_ptr(Error(config.name() + " has shut down"));
    window.fail(stopReason);
    predictions.fail(stopReason);
    std::lock_guard<std::mutex> lock(stateMutex);
    stopped = true;
    saveRequested = loop.saveRequested();
    this->failure = failure;
    computeStopped.notify_all();
  }

  void requireRoot(const char* what) const {
    RAVNEST_CHECK(config.isRoot, config.name(), " is not the root of its cluster: only the root calls ", what);
  }

  /// Queues a forward-stream message on this (root) node and returns its micro-batch id.
  uint64_t feed(std::vector<NamedTensor> modelInputs, detail::MicroBatchMeta meta) {
    throwIfStopped();
    const uint64_t id = nextId++;
    Message work;
    work.kind = MessageKind::kActivation;
    work.sender = config.name();
    work.id = id;
    work.tensors = std::move(modelInputs);
    detail::attachMeta(work, meta);
    const auto giveUp = std::chrono::steady_clock::now() + options.backwardTimeout;
    while (!scheduler.pushForward(std::move(work), kPumpWait)) {
      throwIfStopped();
      RAVNEST_CHECK_AS(TimeoutError, std::chrono::steady_clock::now() < giveUp, config.name(),
                       ": the pipeline took no work for ", options.backwardTimeout.count() / 1000, " s");
    }
    return id;
  }

  void throwIfStopped() {
    std::lock_guard<std::mutex> lock(stateMutex);
    if (failure) std::rethrow_exception(failure);
    RAVNEST_CHECK_AS(Error, !stopped, config.name(), " has shut down and takes no more work");
  }

  const NodeConfig config;
  const StageRouting routing;
  const detail::StagePlan plan;
  const NodeOptions options;
  Stage stage;
  PeerServer server;
  Scheduler scheduler;
  detail::PeerLinks links;
  detail::InFlightWindow window;
  detail::PredictionMailbox predictions;
  detail::ClusterAveraging averaging;
  std::vector<std::unique_ptr<detail::InboxPump>> pumps;
  std::thread computeThread;
  uint64_t nextId = 0;  // the feeding thread's

  std::mutex stateMutex;
  std::condition_variable computeStopped;
  bool started = false;
  bool stopped = false;
  bool saveRequested = false;
  std::exception_ptr failure;
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
  impl_->computeThread = std::thread([this, hooks = std::move(hooks)]() mutable {
    impl_->runComputeThread(std::move(hooks));
  });
}

void Node::forwardCompute(std::vector<NamedTensor> modelInputs, int64_t epoch) {
  impl_->requireRoot("forward_compute");
  impl_->window.acquire(impl_->options.backwardTimeout);
  try {
    impl_->feed(std::move(modelInputs), {detail::StreamKind::kTrain, epoch, false});
  } catch (...) {
    impl_->window.release();  // the micro-batch never entered the pipeline
    throw;
  }
}

void Node::evaluateBatch(std::vector<NamedTensor> modelInputs, int64_t epoch) {
  impl_->requireRoot("no_grad_forward_compute");
  impl_->feed(std::move(modelInputs), {detail::StreamKind::kEval, epoch, false});
}

std::vector<NamedTensor> Node::predict(std::vector<NamedTensor> modelInputs, int64_t epoch) {
  impl_->requireRoot("pred");
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
  impl_->computeStopped.wait_for(lock, timeout, [&] { return impl_->stopped; });
  if (impl_->failure) std::rethrow_exception(impl_->failure);
  return impl_->stopped;
}

bool Node::saveRequested() const {
  std::lock_guard<std::mutex> lock(impl_->stateMutex);
  return impl_->saveRequested;
}

const NodeConfig& Node::config() const { return impl_->config; }
const StageRouting& Node::routing() const { return impl_->routing; }
Stage& Node::stage() { return impl_->stage; }
uint64_t Node::clusterAverages() const { return impl_->averaging.completed(); }

int Node::port() const { return impl_->server.port(); }

}  // namespace ravnest
