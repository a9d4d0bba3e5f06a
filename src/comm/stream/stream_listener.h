#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "comm/stream/stream_socket.h"

namespace ravnest::detail {

/// Accepts a node's direct connections: one plain TCP listening socket and one thread that accepts and checks
/// each connection's hello (job token, channel, ring, sender). A message connection goes at once to the
/// handler the server gave (MessageStreamReceiver). A ring connection, from the ring's previous member, is
/// parked, one per ring, until the ring's thread takes it. A sender opens a fresh connection after a failure; the
/// newest one wins. The node's server owns it from its start, so its port is in every ping reply before any all-reduce
/// exists; a hello that comes before the node's RingAllReduce waits for it (its sender waits for the verdict).
class StreamListener {
 public:
  /// Returns why `sender` may not send chunks of ring `ringId` here, or "" when it may.
  using Admission = std::function<std::string(uint32_t ringId, const std::string& sender)>;

  /// Takes a message connection whose hello introduced `sender` with the right token; returns why it cannot,
  /// or "" when it took it.
  using MessageHandler = std::function<std::string(std::shared_ptr<StreamSocket> socket, std::string sender)>;

  /// Listens on `host` (the address the node's gRPC server listens on) at `port` (0: a free one). Connections
  /// must carry `token` (none when empty); message connections go to `onMessages`. Throws NetworkError when the
  /// port cannot be bound.
  StreamListener(std::string nodeName, const std::string& host, int port, std::string token, MessageHandler onMessages);
  /// Calls close().
  ~StreamListener();
  StreamListener(const StreamListener&) = delete;
  StreamListener& operator=(const StreamListener&) = delete;

  int port() const { return port_; }

  /// Installs the rules of the node's RingAllReduce and answers the hellos that waited for them; an empty
  /// function removes them (parked connections stay for the next one). Throws InvalidArgumentError when
  /// another RingAllReduce is installed: a server serves one at a time.
  void setAdmission(Admission admission);

  /// The connection that arrived for `ringId` since the last take, or null when none did.
  std::shared_ptr<StreamSocket> takeNewer(uint32_t ringId);
  /// Waits for a connection for `ringId` until `deadline`. Throws TimeoutError naming `waitingFor`.
  std::shared_ptr<StreamSocket> take(uint32_t ringId, SteadyTime deadline, const std::string& waitingFor);

  /// Stops accepting and closes every parked and waiting connection. Idempotent.
  void close();

 private:
  struct Hello {
    std::shared_ptr<StreamSocket> socket;
    uint32_t ringId;
    std::string sender;
  };

  void acceptLoop();
  /// Greets connection `fd` on a thread of its own, so that a client that never says hello holds up no other;
  /// closes it at once when kMostGreetings are under way. Joins the greeters that finished.
  void startGreeting(int fd, const std::string& peer);
  /// Reads and checks the hello of a new connection; decides at once or leaves it waiting for admission.
  void greet(const std::shared_ptr<StreamSocket>& socket);
  /// Answers `hello` by `admission` and parks its connection when admitted. Holds admitting_.
  void decide(const Hello& hello, const Admission& admission);
  /// Logs a refused connection.
  void refused(const std::string& peer, const std::string& refusal) const;

  const std::string nodeName_;
  const std::string token_;
  const MessageHandler onMessages_;
  // Held while an admission decides, so that removing it waits for a decision that runs into it.
  std::mutex admitting_;
  Admission admission_;         // guarded by admitting_; empty: hellos wait in waiting_
  std::vector<Hello> waiting_;  // guarded by admitting_
  int listenFd_ = -1;
  int wakeFd_ = -1;  // an eventfd written at destruction, so the accept thread leaves its poll()
  int port_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::map<uint32_t, std::shared_ptr<StreamSocket>> parked_;
  struct Greeter {
    std::shared_ptr<StreamSocket> socket;  // guarded by greetersMutex_; null once the hello was answered
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::mutex greetersMutex_;
  std::list<std::unique_ptr<Greeter>> greeters_;  // the accept thread's, and close()'s once it ended
  std::thread acceptor_;
  std::once_flag closeOnce_;
};

}  // namespace ravnest::detail
