#include "comm/stream/stream_listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "comm/stream/stream_wire.h"
#include "common/constant_time.h"
#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

/// A hello must arrive this soon after its connection: a silent client holds up the accept thread only so long.
constexpr std::chrono::milliseconds kHelloDeadline{2000};
/// Hellos held while no all-reduce runs on the node; more are refused.
constexpr size_t kMostWaitingHellos = 256;
/// Connections whose hello is being read at once; more are closed unread until some finish.
constexpr size_t kMostGreetings = 32;

/// A listening socket on `host` at `port` (0: a free one, then set to it), or -1 with `error` set.
int listenOn(const std::string& host, int& port, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const int resolved =
      ::getaddrinfo(host.empty() ? nullptr : host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (resolved != 0) {
    error = ::gai_strerror(resolved);
    return -1;
  }
  int fd = -1;
  for (const addrinfo* address = found; address != nullptr && fd < 0; address = address->ai_next) {
    fd = ::socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC, address->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    // A provider restarted on its fixed ring port must not wait for the old connections' TIME_WAIT to end.
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, address->ai_addr, address->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
      error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) return -1;
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return fd;
}

std::string describePeer(const sockaddr_storage& address) {
  char host[NI_MAXHOST] = {};
  char service[NI_MAXSERV] = {};
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&address), sizeof(address), host, sizeof(host), service,
                    sizeof(service), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "an unknown address";
  }
  return std::string(host) + ":" + service;
}

}  // namespace

StreamListener::StreamListener(std::string nodeName, const std::string& host, int port, std::string token,
                               MessageHandler onMessages)
    : nodeName_(std::move(nodeName)), token_(std::move(token)), onMessages_(std::move(onMessages)), port_(port) {
  std::string error;
  listenFd_ = listenOn(host, port_, error);
  RAVNEST_CHECK_AS(NetworkError, listenFd_ >= 0, nodeName_, " cannot listen for direct connections on ", host, ":",
                   port, ": ", error, port == 0 ? "" : " (is the ring port in use? pick another, or 0 for any)");
  wakeFd_ = ::eventfd(0, EFD_CLOEXEC);
  if (wakeFd_ < 0) {
    ::close(listenFd_);
    throw NetworkError(nodeName_ + " cannot create an eventfd: " + std::strerror(errno));
  }
  acceptor_ = std::thread([this] { acceptLoop(); });
}

StreamListener::~StreamListener() {
  close();
  ::close(listenFd_);
  ::close(wakeFd_);
}

void StreamListener::close() {
  std::call_once(closeOnce_, [this] {
    const uint64_t one = 1;
    if (::write(wakeFd_, &one, sizeof(one)) != sizeof(one)) ::shutdown(listenFd_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(greetersMutex_);
      for (auto& greeter : greeters_) {
        if (greeter->socket) greeter->socket->shutdown();  // ends a wait for a hello at once
      }
    }
    for (auto& greeter : greeters_) greeter->thread.join();
    greeters_.clear();
    {
      std::lock_guard<std::mutex> lock(admitting_);
      waiting_.clear();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    parked_.clear();
    arrived_.notify_all();
  });
}

void StreamListener::acceptLoop() {
  pollfd waiting[2] = {{listenFd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
  for (;;) {
    if (::poll(waiting, 2, -1) < 0 && errno != EINTR) return;
    if (waiting[1].revents != 0) return;
    if ((waiting[0].revents & POLLIN) == 0) continue;
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    const int fd = ::accept4(listenFd_, reinterpret_cast<sockaddr*>(&address), &length, SOCK_CLOEXEC);
    if (fd < 0) continue;  // the client gave up already, or we are out of descriptors for a moment
    startGreeting(fd, describePeer(address));
  }
}

void StreamListener::startGreeting(int fd, const std::string& peer) {
  for (auto it = greeters_.begin(); it != greeters_.end();) {
    if (!(*it)->done) {
      ++it;
      continue;
    }
    (*it)->thread.join();
    it = greeters_.erase(it);
  }
  if (greeters_.size() >= kMostGreetings) {
    ::close(fd);
    return refused(peer, "too many connections are saying hello at once");
  }
  auto& greeter = *greeters_.emplace_back(std::make_unique<Greeter>());
  greeter.socket = std::make_shared<StreamSocket>(fd, peer);
  greeter.thread = std::thread([this, &greeter] {
    greet(greeter.socket);
    // The connection is someone else's now, or refused: close() must not shut it down.
    std::lock_guard<std::mutex> lock(greetersMutex_);
    greeter.socket.reset();
    greeter.done = true;
  });
}

void StreamListener::greet(const std::shared_ptr<StreamSocket>& socket) {
  const std::string& peer = socket->peer();
  StreamHello hello;
  try {
    hello = readHello(*socket, std::chrono::steady_clock::now() + kHelloDeadline);
  } catch (const std::exception& error) {
    writeVerdict(*socket, error.what(), std::chrono::steady_clock::now() + kHelloDeadline);
    return refused(peer, error.what());
  }
  if (!token_.empty() && !constantTimeEquals(token_, hello.token)) {
    const std::string refusal = "node " + nodeName_ + " refused the connection: missing or wrong job token";
    writeVerdict(*socket, refusal, std::chrono::steady_clock::now() + kHelloDeadline);
    return refused(peer, refusal);
  }
  if (hello.channel == StreamChannel::kMessages) {
    const std::string refusal = onMessages_ ? onMessages_(socket, std::move(hello.sender))
                                            : "node " + nodeName_ + " takes no message connections";
    if (refusal.empty()) return;
    writeVerdict(*socket, refusal, std::chrono::steady_clock::now() + kHelloDeadline);
    return refused(peer, refusal);
  }
  std::lock_guard<std::mutex> lock(admitting_);
  if (admission_) return decide({socket, hello.ringId, std::move(hello.sender)}, admission_);
  if (waiting_.size() >= kMostWaitingHellos) {
    const std::string refusal = "node " + nodeName_ + " has no all-reduce running and too many connections waiting";
    writeVerdict(*socket, refusal, std::chrono::steady_clock::now() + kHelloDeadline);
    return refused(peer, refusal);
  }
  waiting_.push_back({socket, hello.ringId, std::move(hello.sender)});
}

void StreamListener::decide(const Hello& hello, const Admission& admission) {
  const std::string refusal = admission(hello.ringId, hello.sender);
  writeVerdict(*hello.socket, refusal, std::chrono::steady_clock::now() + kHelloDeadline);
  if (!refusal.empty()) return refused(hello.socket->peer(), refusal);
  std::lock_guard<std::mutex> lock(mutex_);
  parked_[hello.ringId] = hello.socket;
  arrived_.notify_all();
}

void StreamListener::refused(const std::string& peer, const std::string& refusal) const {
  logger(nodeName_)->warn("refused a direct connection from {}: {}", peer, refusal);
}

void StreamListener::setAdmission(Admission admission) {
  std::lock_guard<std::mutex> lock(admitting_);
  RAVNEST_CHECK(!admission || !admission_, "node ", nodeName_,
                "'s server already serves a RingAllReduce; give each one a server of its own");
  admission_ = std::move(admission);
  if (!admission_) return;
  for (const Hello& hello : waiting_) decide(hello, admission_);
  waiting_.clear();
}

std::shared_ptr<StreamSocket> StreamListener::takeNewer(uint32_t ringId) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = parked_.find(ringId);
  if (found == parked_.end()) return nullptr;
  auto socket = std::move(found->second);
  parked_.erase(found);
  return socket;
}

std::shared_ptr<StreamSocket> StreamListener::take(uint32_t ringId, SteadyTime deadline,
                                                   const std::string& waitingFor) {
  std::unique_lock<std::mutex> lock(mutex_);
  const bool came = arrived_.wait_until(lock, deadline, [&] { return parked_.count(ringId) > 0; });
  RAVNEST_CHECK_AS(TimeoutError, came, "node ", nodeName_, " waited too long for ", waitingFor,
                   " to open its ring connection (did it stop, or can it not reach port ", port_, "?)");
  auto socket = std::move(parked_[ringId]);
  parked_.erase(ringId);
  return socket;
}

}  // namespace ravnest::detail
