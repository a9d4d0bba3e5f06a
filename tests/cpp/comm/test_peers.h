#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "ravnest/comm/transport_options.h"

namespace ravnest::testing {

/// A PeerServer running in another process (the ravnest_test_peer program) that drains its inboxes, so
/// tests can kill or freeze a real peer. The constructor returns once the child listens.
class ChildPeer {
 public:
  explicit ChildPeer(const std::vector<std::string>& arguments = {});
  ~ChildPeer();
  ChildPeer(const ChildPeer&) = delete;
  ChildPeer& operator=(const ChildPeer&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  /// Sends `signal` to the child; SIGKILL also reaps it.
  void signal(int signal);

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

/// Options with a short deadline, so failure tests finish quickly.
TransportOptions optionsWithDeadline(std::chrono::milliseconds deadline);

}  // namespace ravnest::testing
