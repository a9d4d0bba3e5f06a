#include "node/heartbeat_monitor.h"

#include <algorithm>

#include "node/failure.h"
#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

/// A ping's deadline: a quarter of the grace period, so a hung neighbour is reported at most that long after
/// the grace period ended, and a healthy neighbour's answer is never overdue just because the ping to a hung
/// one took its whole deadline first.
std::chrono::milliseconds pingDeadline(std::chrono::milliseconds grace) {
  return std::max(grace / 4, std::chrono::milliseconds(100));
}

}  // namespace

HeartbeatMonitor::HeartbeatMonitor(const NodeConfig& config, const std::set<int>& stages,
                                   const TransportOptions& transport, std::chrono::milliseconds interval,
                                   std::chrono::milliseconds grace, OnLost onLost)
    : nodeName_(config.name()), interval_(interval), grace_(grace), onLost_(std::move(onLost)) {
  RAVNEST_CHECK(interval.count() > 0 && grace.count() > 0, nodeName_,
                ": the heartbeat interval and the peer-loss grace must be positive");
  pingOptions_ = transport;
  pingOptions_.deadline = pingDeadline(grace);
  for (int stage : stages) {
    const auto& member = config.clusterNodes.at(stage);
    Neighbour neighbour;
    neighbour.name = member.name();
    neighbour.description = member.name() + " (" + member.address + ")";
    neighbour.address = member.address;
    // A client of its own: its own connection, so heartbeats never queue behind a large transfer.
    neighbour.client = std::make_unique<PeerClient>(nodeName_, member.address, pingOptions_);
    neighbours_.push_back(std::move(neighbour));
  }
}

HeartbeatMonitor::~HeartbeatMonitor() { stop(); }

void HeartbeatMonitor::start() {
  if (!neighbours_.empty()) thread_ = std::thread([this] { runOnHeartbeatThread(); });
}

void HeartbeatMonitor::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stopRequested_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void HeartbeatMonitor::forget(const std::string& nodeName) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    forgotten_.insert(nodeName);
  }
  farewellReceived_.notify_all();
}

bool HeartbeatMonitor::waitForFarewells(const std::set<std::string>& from, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return farewellReceived_.wait_for(
      lock, timeout, [&] { return std::includes(forgotten_.begin(), forgotten_.end(), from.begin(), from.end()); });
}

void HeartbeatMonitor::peersStarted() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!peersStarted_) peersStarted_ = std::chrono::steady_clock::now();
}

void HeartbeatMonitor::runOnHeartbeatThread() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    for (auto& neighbour : neighbours_) {
      if (forgotten_.count(neighbour.name) > 0) neighbour.watched = false;
      if (!neighbour.watched) continue;
      const auto started = peersStarted_;
      lock.unlock();
      const std::exception_ptr lost = beat(neighbour, started);
      lock.lock();
      if (stopping_) return;
      // A farewell that arrived during the ping wins: the neighbour finished and went away on purpose.
      if (!lost || forgotten_.count(neighbour.name) > 0) continue;
      stopping_ = true;
      lock.unlock();
      onLost_(lost);
      return;
    }
    stopRequested_.wait_for(lock, interval_, [&] { return stopping_; });
  }
}

std::exception_ptr HeartbeatMonitor::beat(Neighbour& neighbour,
                                          std::optional<std::chrono::steady_clock::time_point> peersStarted) {
  if (peersStarted && !neighbour.lastAnswer && !neighbour.reconnected) {
    // Its pings so far hit a connection that failed while it was not listening yet, and that may still be
    // backing off (and would report that old refusal): a new one reaches the neighbour that runs now, or
    // times out if it hangs.
    neighbour.client = std::make_unique<PeerClient>(nodeName_, neighbour.address, pingOptions_);
    neighbour.reconnected = true;
  }
  try {
    neighbour.client->ping();
    neighbour.lastAnswer = std::chrono::steady_clock::now();
    return nullptr;
  } catch (const Error&) {
    neighbour.lastError = std::current_exception();
  }
  const auto now = std::chrono::steady_clock::now();
  // A neighbour that never answered is still starting, and the compute thread's start-up wait judges it,
  // until that wait found it running: its pings may have hit a connection still backing off from the time
  // the neighbour was not listening yet.
  const auto heardOf = neighbour.lastAnswer ? neighbour.lastAnswer : peersStarted;
  if (!heardOf || now - *heardOf < grace_) return nullptr;
  logger(nodeName_)->debug("{} missed its heartbeats: {}", neighbour.description,
                           failureMessageOf(neighbour.lastError));
  const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - *heardOf);
  return makeFailure(failureTypeOf(neighbour.lastError),
                     nodeName_ + ": lost " + neighbour.description + ", which answered no heartbeat for " +
                         std::to_string(silent.count() / 1000) + "." + std::to_string(silent.count() % 1000 / 100) +
                         " s (" +
                         failureMessageOf(neighbour.lastError) + "): is that provider still running?");
}

}  // namespace ravnest::detail
