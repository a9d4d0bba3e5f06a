#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace ravnest::detail {

/// A plain TCP server that handles one connection at a time on a thread of its own: the matchmaker's status page
/// and a provider's probe listener. `handle(fd)` runs for each accepted connection, which is closed after it;
/// what it throws is logged at debug level and the server goes on.
class TcpServer {
 public:
  /// Binds `host`:`port` (0: any free port) and starts serving. Throws ConfigError naming `what` and ending with
  /// `advice` when it cannot.
  TcpServer(const std::string& host, int port, const std::string& what, const std::string& advice,
            std::function<void(int fd)> handle);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;
  int port() const { return port_; }

 private:
  void serve();

  const std::string what_;
  const std::function<void(int)> handle_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ravnest::detail
