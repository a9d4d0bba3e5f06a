#pragma once

#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

namespace ravnest::detail {

using SteadyTime = std::chrono::steady_clock::time_point;

/// One plain TCP connection between two nodes that carries ring chunks or pipeline messages one way (see
/// stream_wire.h for what travels on it). Non-blocking underneath: every read and write waits in poll() for readiness
/// until its deadline, so nothing spins and nothing blocks forever. One thread may read while another writes;
/// shutdown() may be called from any thread and wakes both.
class StreamSocket {
 public:
  /// Takes ownership of a connected socket `fd`; `peer` ("host:port") names the other end in errors.
  StreamSocket(int fd, std::string peer);
  ~StreamSocket();
  StreamSocket(const StreamSocket&) = delete;
  StreamSocket& operator=(const StreamSocket&) = delete;

  /// Connects to `host`:`port`. Throws NetworkError when no address of `host` accepts before `deadline`.
  static std::unique_ptr<StreamSocket> connect(const std::string& host, int port, SteadyTime deadline);

  /// Writes every byte of `parts` (any number), with as few system calls as the kernel's buffer allows. Throws
  /// NetworkError when the peer closed or reset the connection (or shutdown() was called), TimeoutError when the peer
  /// stopped reading for longer than the deadline.
  void writeAll(const iovec* parts, int count, SteadyTime deadline, const std::string& what);
  /// Reads exactly `size` bytes. Throws NetworkError when the connection ends first, TimeoutError when they do
  /// not come by `deadline`. `what` says what was being read, for the error.
  void readAll(void* data, size_t size, SteadyTime deadline, const std::string& what);
  /// Like readAll, but returns false when the peer closed the connection before the first byte: the orderly
  /// end between two frames. SteadyTime::max() waits for that first byte as long as the connection lives.
  bool readAllOrEnd(void* data, size_t size, SteadyTime deadline, const std::string& what);
  /// Reads what has already arrived, up to `size` bytes, waiting at most until `deadline`; 0 at the end.
  /// Never throws: used to fetch the reason a peer gave before it closed.
  size_t readSome(void* data, size_t size, SteadyTime deadline) noexcept;

  /// Whether the peer wrote something or closed its side, without waiting: on a one-way connection, the sign
  /// that the receiver refused or went away.
  bool peerSpokeOrClosed() const noexcept;
  /// Ends this side's writing (the peer reads the end after what was written); reading goes on.
  void closeWriting() noexcept;
  /// Ends both directions; a thread waiting in readAll or writeAll returns with a NetworkError.
  void shutdown() noexcept;
  const std::string& peer() const { return peer_; }

 private:
  /// Waits until the socket is ready for `events`; false when `deadline` passed first.
  bool waitFor(short events, SteadyTime deadline) const;

  const int fd_;
  const std::string peer_;
  std::atomic<bool> shutDown_{false};
};

/// "host" and port of "host:port" or "[v6 address]:port". Throws InvalidArgumentError for anything else.
std::pair<std::string, int> splitHostPort(const std::string& address);

}  // namespace ravnest::detail
