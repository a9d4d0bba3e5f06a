// Peer probes. Wire format on one TCP connection:
//   prober -> listener: "RVPB", u32 length (little-endian), the hex SHA-256 of "ravnest-probe:" + the matchmaker's
//   token (empty without a token)
//   listener -> prober: 1 byte, 1 accepted, 0 refused (then it closes)
//   round trips: the prober sends 'P', the listener answers 'P'; kRoundTrips times
//   stream: the prober sends 'S', then bytes for streamSeconds and half-closes; the listener reads to the end,
//   times the arrivals and answers with the rate as a little-endian double (Mbit/s).
#include "matchmaker/link_probe.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "comm/stream/stream_socket.h"  // splitHostPort
#include "common/constant_time.h"
#include "matchmaker/artifact_files.h"  // Sha256
#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRoundTrips = 5;
constexpr char kMagic[4] = {'R', 'V', 'P', 'B'};
constexpr uint32_t kMaxTokenBytes = 4096;
constexpr auto kIoTimeout = std::chrono::seconds(10);
constexpr auto kConnectTimeout = std::chrono::seconds(5);

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Waits for `events` on `fd` until `deadline`; false on timeout.
bool waitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

void sendAll(int fd, const void* data, size_t size, const std::string& peer) {
  const char* p = static_cast<const char*>(data);
  const auto deadline = Clock::now() + kIoTimeout;
  while (size > 0) {
    RAVNEST_CHECK_AS(TimeoutError, waitFor(fd, POLLOUT, deadline), "probe of ", peer, ": the peer stopped reading");
    const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    RAVNEST_CHECK_AS(NetworkError, n > 0, "probe of ", peer, ": connection lost (", std::strerror(errno), ")");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

// Reads exactly `size` bytes; false when the connection ended first.
bool receiveAll(int fd, void* data, size_t size, const std::string& peer) {
  char* p = static_cast<char*>(data);
  const auto deadline = Clock::now() + kIoTimeout;
  while (size > 0) {
    RAVNEST_CHECK_AS(TimeoutError, waitFor(fd, POLLIN, deadline), "probe of ", peer, ": no answer in ",
                     kIoTimeout.count(), " s");
    const ssize_t n = ::recv(fd, p, size, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

void noDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// What a probe presents: a digest of the matchmaker's token rather than the token itself, since probes travel
// unencrypted even when the matchmaker speaks TLS.
std::string probeSecret(const std::string& token) {
  if (token.empty()) return {};
  Sha256 sha;
  const std::string salted = "ravnest-probe:" + token;
  sha.add(salted.data(), salted.size());
  return sha.hex();
}

}  // namespace

double streamRateMbps(const std::vector<std::pair<double, uint64_t>>& samples) {
  if (samples.size() < 2) return 0;
  const double start = samples.front().first, end = samples.back().first;
  const double from = start + 0.25 * (end - start);
  // The last sample at or before `from`: the bytes that had arrived then.
  auto first = std::upper_bound(samples.begin(), samples.end(), from,
                                [](double t, const auto& sample) { return t < sample.first; });
  if (first != samples.begin()) --first;
  const double seconds = end - first->first;
  if (seconds <= 0) return 0;
  return static_cast<double>(samples.back().second - first->second) * 8.0 / seconds / 1e6;
}

ProbeListener::ProbeListener(const std::string& host, int port, const std::string& token)
    : secret_(probeSecret(token)),
      server_(host, port, "probe listener", "pick another port", [this](int fd) { answer(fd); }) {}

void ProbeListener::answer(int fd) {
  noDelay(fd);
  const std::string peer = "prober";
  char magic[4];
  uint32_t tokenBytes = 0;
  if (!receiveAll(fd, magic, 4, peer) || std::memcmp(magic, kMagic, 4) != 0) return;
  if (!receiveAll(fd, &tokenBytes, 4, peer) || tokenBytes > kMaxTokenBytes) return;
  std::string token(tokenBytes, '\0');
  if (!receiveAll(fd, token.data(), tokenBytes, peer)) return;
  const char verdict = constantTimeEquals(secret_, token) ? 1 : 0;
  sendAll(fd, &verdict, 1, peer);
  if (!verdict) {
    logger("probe")->warn("probe listener: refused a probe with a wrong token");
    return;
  }
  char command = 0;
  int trips = 0;
  while (receiveAll(fd, &command, 1, peer)) {
    if (command == 'P') {
      // A prober asks for kRoundTrips; more would let one connection hold the listener forever.
      if (++trips > 4 * kRoundTrips) return;
      sendAll(fd, &command, 1, peer);
      continue;
    }
    if (command != 'S') return;
    std::vector<std::pair<double, uint64_t>> samples;
    std::vector<char> buffer(1 << 16);
    const auto start = Clock::now();
    uint64_t total = 0;
    const auto deadline = start + std::chrono::seconds(30);  // a stream lasts a second or two
    for (;;) {
      RAVNEST_CHECK_AS(TimeoutError, waitFor(fd, POLLIN, deadline), "probe stream took too long");
      const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;
      total += static_cast<uint64_t>(n);
      samples.emplace_back(secondsSince(start), total);
    }
    const double rate = streamRateMbps(samples);
    sendAll(fd, &rate, sizeof rate, peer);
    return;
  }
}

LinkFigures probeLink(const std::string& address, const std::string& token, double streamSeconds) {
  const auto [host, port] = splitHostPort(address);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  RAVNEST_CHECK_AS(NetworkError, ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) == 0,
                   "probe of ", address, ": cannot resolve the host");
  // Non-blocking connect with a deadline: a peer whose packets vanish (a firewall, a dead address) must not hold
  // the prober for the kernel's two minutes.
  int fd = -1;
  int error = ETIMEDOUT;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    int soError = errno;
    if (soError == EINPROGRESS && waitFor(fd, POLLOUT, Clock::now() + kConnectTimeout)) {
      socklen_t length = sizeof soError;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length);
      if (soError == 0) break;
    }
    error = soError == EINPROGRESS ? ETIMEDOUT : soError;
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  RAVNEST_CHECK_AS(NetworkError, fd >= 0, "probe of ", address, ": cannot connect (", std::strerror(error), ")");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  noDelay(fd);
  const std::string secret = probeSecret(token);
  std::string hello(kMagic, 4);
  const uint32_t tokenBytes = static_cast<uint32_t>(secret.size());
  hello.append(reinterpret_cast<const char*>(&tokenBytes), 4);
  hello += secret;
  sendAll(fd, hello.data(), hello.size(), address);
  char verdict = 0;
  RAVNEST_CHECK_AS(NetworkError, receiveAll(fd, &verdict, 1, address), "probe of ", address,
                   ": the peer closed the connection at the hello");
  RAVNEST_CHECK_AS(AuthenticationError, verdict == 1, "probe of ", address,
                   ": the peer refused this matchmaker token");
  LinkFigures figures;
  std::vector<double> trips;
  for (int i = 0; i < kRoundTrips; ++i) {
    const auto start = Clock::now();
    char command = 'P';
    sendAll(fd, &command, 1, address);
    RAVNEST_CHECK_AS(NetworkError, receiveAll(fd, &command, 1, address), "probe of ", address,
                     ": connection lost during the round trips");
    trips.push_back(secondsSince(start) * 1e3);
  }
  std::sort(trips.begin(), trips.end());
  figures.rttMs = trips[trips.size() / 2];
  const char command = 'S';
  sendAll(fd, &command, 1, address);
  std::vector<char> block(1 << 16, 'r');
  const auto start = Clock::now();
  while (secondsSince(start) < streamSeconds) sendAll(fd, block.data(), block.size(), address);
  ::shutdown(fd, SHUT_WR);
  double rate = 0;
  RAVNEST_CHECK_AS(NetworkError, receiveAll(fd, &rate, sizeof rate, address), "probe of ", address,
                   ": the peer did not report the stream's rate");
  figures.bandwidthMbps = rate;
  return figures;
}

}  // namespace ravnest::detail
