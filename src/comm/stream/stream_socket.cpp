#include "comm/stream/stream_socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

int millisecondsUntil(SteadyTime deadline) {
  if (deadline == SteadyTime::max()) return 60'000;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 60'000));
}

std::string systemError(int error) { return std::strerror(error); }

/// A non-blocking socket connected to `address` by `deadline`, or -1 with `error` set.
int connectOne(const addrinfo& address, SteadyTime deadline, int& error) {
  const int fd = ::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, address.ai_protocol);
  if (fd < 0) {
    error = errno;
    return -1;
  }
  if (::connect(fd, address.ai_addr, address.ai_addrlen) == 0) return fd;
  error = errno;
  if (error == EINPROGRESS) {
    pollfd waiting{fd, POLLOUT, 0};
    int ready = 0;
    do {
      ready = ::poll(&waiting, 1, millisecondsUntil(deadline));
    } while (ready < 0 && errno == EINTR);
    socklen_t length = sizeof(error);
    if (ready == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0) return fd;
    if (ready == 0) error = ETIMEDOUT;
  }
  ::close(fd);
  return -1;
}

}  // namespace

StreamSocket::StreamSocket(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)) {
  const int one = 1;
  // Segment headers are small writes followed by large ones; Nagle would hold the header back.
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

StreamSocket::~StreamSocket() { ::close(fd_); }

std::unique_ptr<StreamSocket> StreamSocket::connect(const std::string& host, int port, SteadyTime deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string peer = host + ":" + std::to_string(port);
  const int resolved = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  RAVNEST_CHECK_AS(NetworkError, resolved == 0, "cannot resolve ", host, ": ", ::gai_strerror(resolved));
  int error = 0;
  int fd = -1;
  for (const addrinfo* address = found; address != nullptr && fd < 0; address = address->ai_next) {
    fd = connectOne(*address, deadline, error);
  }
  ::freeaddrinfo(found);
  RAVNEST_CHECK_AS(NetworkError, fd >= 0, "cannot open a ring connection to ", peer, ": ", systemError(error));
  return std::make_unique<StreamSocket>(fd, peer);
}

bool StreamSocket::waitFor(short events, SteadyTime deadline) const {
  pollfd waiting{fd_, events, 0};
  for (;;) {
    const int ready = ::poll(&waiting, 1, millisecondsUntil(deadline));
    if (ready > 0) return true;
    if (ready < 0 && errno == EINTR) continue;
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
}

void StreamSocket::writeAll(const iovec* parts, int count, SteadyTime deadline, const std::string& what) {
  std::vector<iovec> pending(parts, parts + count);
  size_t next = 0;
  while (next < pending.size()) {
    RAVNEST_CHECK_AS(NetworkError, !shutDown_.load(), what, " to ", peer_, ": the connection was closed");
    msghdr message{};
    message.msg_iov = pending.data() + next;
    message.msg_iovlen = std::min<size_t>(pending.size() - next, IOV_MAX);
    const ssize_t written = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR) continue;
      RAVNEST_CHECK_AS(NetworkError, errno == EAGAIN || errno == EWOULDBLOCK, what, " to ", peer_,
                       " failed: ", systemError(errno), " (the peer stopped or closed the connection)");
      RAVNEST_CHECK_AS(TimeoutError, waitFor(POLLOUT, deadline), what, " to ", peer_,
                       ": the peer stopped reading (deadline passed)");
      continue;
    }
    auto left = static_cast<size_t>(written);
    while (next < pending.size() && left >= pending[next].iov_len) {
      left -= pending[next].iov_len;
      ++next;
    }
    if (next < pending.size()) {
      pending[next].iov_base = static_cast<char*>(pending[next].iov_base) + left;
      pending[next].iov_len -= left;
    }
  }
}

bool StreamSocket::readAllOrEnd(void* data, size_t size, SteadyTime deadline, const std::string& what) {
  if (size == 0) return true;
  for (;;) {
    RAVNEST_CHECK_AS(NetworkError, !shutDown_.load(), what, " from ", peer_, ": the connection was closed");
    const ssize_t got = ::recv(fd_, data, size, 0);
    if (got == 0) return false;
    if (got > 0) {
      readAll(static_cast<char*>(data) + got, size - static_cast<size_t>(got), deadline, what);
      return true;
    }
    if (errno == EINTR) continue;
    RAVNEST_CHECK_AS(NetworkError, errno == EAGAIN || errno == EWOULDBLOCK, what, " from ", peer_,
                     " failed: ", systemError(errno));
    RAVNEST_CHECK_AS(TimeoutError, waitFor(POLLIN, deadline), "waited too long for ", what, " from ", peer_);
  }
}

void StreamSocket::readAll(void* data, size_t size, SteadyTime deadline, const std::string& what) {
  auto* bytes = static_cast<char*>(data);
  while (size > 0) {
    RAVNEST_CHECK_AS(NetworkError, !shutDown_.load(), what, " from ", peer_, ": the connection was closed");
    const ssize_t got = ::recv(fd_, bytes, size, 0);
    if (got > 0) {
      bytes += got;
      size -= static_cast<size_t>(got);
      continue;
    }
    RAVNEST_CHECK_AS(NetworkError, got != 0, what, " from ", peer_,
                     ": the peer closed the connection (did it stop or fail?)");
    if (errno == EINTR) continue;
    RAVNEST_CHECK_AS(NetworkError, errno == EAGAIN || errno == EWOULDBLOCK, what, " from ", peer_,
                     " failed: ", systemError(errno));
    RAVNEST_CHECK_AS(TimeoutError, waitFor(POLLIN, deadline), "waited too long for ", what, " from ", peer_);
  }
}

size_t StreamSocket::readSome(void* data, size_t size, SteadyTime deadline) noexcept {
  if (!waitFor(POLLIN, deadline)) return 0;
  const ssize_t got = ::recv(fd_, data, size, 0);
  return got > 0 ? static_cast<size_t>(got) : 0;
}

bool StreamSocket::peerSpokeOrClosed() const noexcept {
  pollfd waiting{fd_, POLLIN | POLLRDHUP, 0};
  return ::poll(&waiting, 1, 0) > 0;
}

void StreamSocket::closeWriting() noexcept { ::shutdown(fd_, SHUT_WR); }

void StreamSocket::shutdown() noexcept {
  shutDown_ = true;
  ::shutdown(fd_, SHUT_RDWR);
}

std::pair<std::string, int> splitHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  RAVNEST_CHECK(colon != std::string::npos && colon + 1 < address.size(), "'", address, "' is not host:port");
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  RAVNEST_CHECK(port > 0 && port < 65536 && !host.empty(), "'", address, "' is not host:port");
  return {host, port};
}

}  // namespace ravnest::detail
