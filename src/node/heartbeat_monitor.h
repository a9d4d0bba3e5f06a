#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/transport_options.h"
#include "ravnest/config/node_config.h"

namespace ravnest::detail {

/// Heartbeats on a node's pipeline links. A thread of its own pings every neighbour each `interval`, also
/// while the compute thread is busy or blocked and while no data flows, so a neighbour that died or hangs is
/// noticed even during a long forward pass elsewhere. A neighbour that answered once and then leaves its
/// pings unanswered for `grace` is reported to `onLost` (once), as a NetworkError (unreachable: its process
/// is gone) or a TimeoutError (no answer in time: it hangs) naming it and its address. A neighbour that never
/// answered is taken for one still starting, until the compute thread's start-up wait found it running
/// (peersStarted()): from then on it is judged as if it had answered at that moment. A neighbour that said
/// farewell (it finished normally) is no longer watched; farewells from any node of the cluster are kept, for
/// waitForFarewells. Thread-safe.
class HeartbeatMonitor {
 public:
  using OnLost = std::function<void(std::exception_ptr)>;

  HeartbeatMonitor(const NodeConfig& config, const std::set<int>& stages, const TransportOptions& transport,
                   std::chrono::milliseconds interval, std::chrono::milliseconds grace, OnLost onLost);
  ~HeartbeatMonitor();
  HeartbeatMonitor(const HeartbeatMonitor&) = delete;
  HeartbeatMonitor& operator=(const HeartbeatMonitor&) = delete;

  /// Starts the heartbeat thread. Call once.
  void start();
  /// Ends the heartbeat thread. Idempotent; not from `onLost`.
  void stop();
  /// Stops watching the neighbour named `nodeName` (it finished normally and may go away).
  void forget(const std::string& nodeName);
  /// Waits until every node named in `from` said farewell, or `timeout` passed (then false). A node that
  /// finished waits so before its server goes away, because the others may still be confirming their last
  /// messages to it (PeerClient::flush), and they send their farewell only after that. Not from the control pump.
  bool waitForFarewells(const std::set<std::string>& from, std::chrono::milliseconds timeout);
  /// Every neighbour is running (the start-up wait reached it): a neighbour whose pings have not been
  /// answered yet counts its silence from now.
  void peersStarted();

 private:
  struct Neighbour {
    std::string name;
    std::string description;  // "node_<id> (address)"
    std::unique_ptr<PeerClient> client;
    std::optional<std::chrono::steady_clock::time_point> lastAnswer;  // unset until it first answers
    std::exception_ptr lastError;
    bool watched = true;
    std::string address;
    bool reconnected = false;  // its client was replaced once the peers had started
  };

  void runOnHeartbeatThread();
  /// Pings `neighbour` once; returns its failure when it has been silent for longer than the grace period.
  std::exception_ptr beat(Neighbour& neighbour, std::optional<std::chrono::steady_clock::time_point> peersStarted);

  const std::string nodeName_;
  const std::chrono::milliseconds interval_;
  const std::chrono::milliseconds grace_;
  const OnLost onLost_;
  TransportOptions pingOptions_;
  std::mutex mutex_;
  std::condition_variable stopRequested_;
  std::condition_variable farewellReceived_;
  bool stopping_ = false;
  std::set<std::string> forgotten_;  // node names; guarded by mutex_
  std::optional<std::chrono::steady_clock::time_point> peersStarted_;  // guarded by mutex_
  std::vector<Neighbour> neighbours_;  // the heartbeat thread's
  std::thread thread_;
};

}  // namespace ravnest::detail
