#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "comm/ring_socket.h"

namespace ravnest::detail {

/// Accepts the ring connections of a node's previous members: one plain TCP listening socket, one thread that
/// accepts and checks each connection's hello (job token, ring, sender), and one parked connection per ring
/// until the ring's thread takes it. A sender opens a fresh connection after a failure; the newest one wins.
/// The node's server owns it from its start, so its port is in every ping reply before any all-reduce exists;
/// a hello that comes before the node's RingAllReduce waits for it (its sender waits for the verdict).
class RingListener {
 public:
  /// Returns why `sender` may not send chunks of ring `ringId` here, or "" when it may.
  using Admission = std::function<std::string(uint32_t ringId, const std::string& sender)>;

  /// Listens on `host` (the address the node's gRPC server listens on) at `port` (0: a free one). Connections
  /// must carry `token` (none when empty). Throws NetworkError when the port cannot be bound.
  RingListener(std::string nodeName, const std::string& host, int port, std::string token);
  /// Calls close().
  ~RingListener();
  RingListener(const RingListener&) = delete;
  RingListener& operator=(const RingListener&) = delete;

  int port() const { return port_; }

  /// Installs the rules of the node's RingAllReduce and answers the hellos that waited for them; an empty
  /// function removes them (parked connections stay for the next one). Throws InvalidArgumentError when
  /// another RingAllReduce is installed: a server serves one at a time.
  void setAdmission(Admission admission);

  /// The connection that arrived for `ringId` since the last take, or null when none did.
  std::shared_ptr<RingSocket> takeNewer(uint32_t ringId);
  /// Waits for a connection for `ringId` until `deadline`. Throws TimeoutError naming `waitingFor`.
  std::shared_ptr<RingSocket> take(uint32_t ringId, SteadyTime deadline, const std::string& waitingFor);

  /// Stops accepting and closes every parked and waiting connection. Idempotent.
  void close();

 private:
  struct Hello {
    std::shared_ptr<RingSocket> socket;
    uint32_t ringId;
    std::string sender;
  };

  void acceptLoop();
  /// Reads and checks the hello of a new connection `fd`; decides at once or leaves it waiting for admission.
  void greet(int fd, const std::string& peer);
  /// Answers `hello` by `admission` and parks its connection when admitted. Holds admitting_.
  void decide(const Hello& hello, const Admission& admission);
  /// Logs a refused connection.
  void refused(const std::string& peer, const std::string& refusal) const;

  const std::string nodeName_;
  const std::string token_;
  // Held while an admission decides, so that removing it waits for a decision that runs into it.
  std::mutex admitting_;
  Admission admission_;          // guarded by admitting_; empty: hellos wait in waiting_
  std::vector<Hello> waiting_;   // guarded by admitting_
  int listenFd_ = -1;
  int wakeFd_ = -1;  // an eventfd written at destruction, so the accept thread leaves its poll()
  int port_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::map<uint32_t, std::shared_ptr<RingSocket>> parked_;
  std::thread acceptor_;
  std::once_flag closeOnce_;
};

}  // namespace ravnest::detail
