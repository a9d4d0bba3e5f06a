#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ravnest {

/// Bytes a node exchanged with one peer (see TrafficCounters for what counts).
struct PeerTraffic {
  std::string name;     // node_<id>; empty when the node JSON does not name the peer
  std::string address;  // host:port; empty when the node JSON does not list the peer
  uint64_t bytesSent = 0;
  uint64_t bytesReceived = 0;
};

/// A node's figures at one moment: named numbers (snake_case, units in the name) and per-peer traffic.
struct NodeMetricsSnapshot {
  std::map<std::string, double> figures;
  std::vector<PeerTraffic> peers;
};

/// The named figures a node keeps about its own work: counts, sizes and durations. Whoever measures something
/// sets or adds it by name, and every reader (Node::metrics(), the Python bindings, the metrics files) passes
/// all names through, so a new figure needs no other change. Written mostly by the compute thread, read by
/// any thread. Thread-safe.
class NodeMetrics {
 public:
  void set(const std::string& name, double value);
  void add(const std::string& name, double delta);
  std::map<std::string, double> figures() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, double> figures_;
};

}  // namespace ravnest
