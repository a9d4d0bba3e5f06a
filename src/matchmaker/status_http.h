#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace ravnest::detail {

/// The matchmaker's status page: a minimal HTTP/1.1 server (GET only, one request per connection) that serves
/// the embedded page at / and the live state at /status.json. Plain HTTP: it shows figures, never secrets, and
/// takes no input. One thread; a client that sends nothing is dropped after 5 s.
class StatusHttpServer {
 public:
  /// Binds `host`:`port` (0: any free port). Throws ConfigError when it cannot.
  StatusHttpServer(const std::string& host, int port, std::function<std::string()> statusJson);
  ~StatusHttpServer();
  StatusHttpServer(const StatusHttpServer&) = delete;
  StatusHttpServer& operator=(const StatusHttpServer&) = delete;
  int port() const { return port_; }

 private:
  void serve();
  void answer(int fd);

  std::function<std::string()> statusJson_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ravnest::detail
