#pragma once

#include <functional>
#include <string>

#include "matchmaker/tcp_server.h"

namespace ravnest::detail {

/// The matchmaker's status page: a minimal HTTP/1.1 server (GET only, one request per connection) that serves
/// the embedded page at / and the live state at /status.json. Plain HTTP: it shows figures, never secrets, and
/// takes no input. One thread; a client that sends nothing is dropped after 5 s.
class StatusHttpServer {
 public:
  /// Binds `host`:`port` (0: any free port). Throws ConfigError when it cannot.
  StatusHttpServer(const std::string& host, int port, std::function<std::string()> statusJson);
  int port() const { return server_.port(); }

 private:
  void answer(int fd);

  const std::function<std::string()> statusJson_;
  TcpServer server_;  // last: it starts calling answer() as soon as it exists
};

}  // namespace ravnest::detail
