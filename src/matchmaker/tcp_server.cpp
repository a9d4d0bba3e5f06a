#include "matchmaker/tcp_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {

TcpServer::TcpServer(const std::string& host, int port, const std::string& what, const std::string& advice,
                     std::function<void(int fd)> handle)
    : what_(what), handle_(std::move(handle)) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), std::to_string(port).c_str(), &hints, &found);
  RAVNEST_CHECK_AS(ConfigError, rc == 0, what, ": cannot resolve ", host, ": ", ::gai_strerror(rc));
  int error = 0;
  for (addrinfo* a = found; a && fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 16) == 0) {
      fd_ = fd;
    } else {
      error = errno;
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  RAVNEST_CHECK_AS(ConfigError, fd_ >= 0, what, ": cannot listen on ", host, ":", port, " (", std::strerror(error),
                   "); ", advice);
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &length);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  thread_ = std::thread([this] { serve(); });
}

TcpServer::~TcpServer() {
  stopping_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

void TcpServer::serve() {
  while (!stopping_) {
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, 200) <= 0) continue;  // wakes now and then to notice stopping_
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    try {
      handle_(fd);
    } catch (const std::exception& error) {
      logger("matchmaker")->debug("{}: {}", what_, error.what());
    }
    ::close(fd);
  }
}

}  // namespace ravnest::detail
