#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ravnest/comm/message.h"
#include "ravnest/comm/transport_options.h"
#include "ravnest/tensor/codec.h"

namespace ravnest {

namespace detail {
class MessageStreamSender;
}  // namespace detail

/// A persistent connection from one node to one peer. The channel is opened once and reused by every call;
/// concurrent calls share it. Pipeline messages (activations, gradients) travel on a direct connection of their
/// own when the peer offers one (PeerServer::ringPort, not under TLS), opened on the first such send; everything
/// else, and pipeline messages to a peer without one, over gRPC. Thread-safe.
class PeerClient {
 public:
  /// Does not connect yet: the first call does. `selfName` names this node in logs and in the messages it sends.
  PeerClient(std::string selfName, std::string target, TransportOptions options = {});
  ~PeerClient();
  PeerClient(const PeerClient&) = delete;
  PeerClient& operator=(const PeerClient&) = delete;

  /// Sends `message` (its `sender` is set to this node), compressing floating tensors with `codec`. Over gRPC it
  /// returns once the message is in the peer's inbox; on a direct connection once its bytes are in the kernel's
  /// buffer, and flush() confirms. Messages on one direct connection arrive in the order sent. Blocks while the
  /// peer's inbox is full (on a direct connection, once the connection's buffers are full too).
  /// Throws TimeoutError after the deadline, NetworkError when the peer is unreachable, goes away or refuses
  /// our token, ProtocolError when it rejects the message (on a direct connection, possibly an earlier one),
  /// InvalidArgumentError for tensors the wire cannot carry.
  void send(Message message, CodecKind codec = CodecKind::kNone) const;

  /// Returns once every message sent so far is in the peer's inbox. Throws like send(), with the reason the
  /// peer rejected one of them. Immediate when nothing went over a direct connection.
  void flush() const;

  /// Round trip with `payload`; returns the peer's node name. Throws like send().
  std::string ping(const std::string& payload = {}) const;

  /// Asks the peer where it accepts ring connections (PeerServer::advertiseRingPort): a port, or 0 when it takes
  /// ring chunks as messages. Throws like send().
  int ringPort() const;

  /// Sends `frames` as one Transfer call exactly as given (with the token and deadline of the options), for
  /// tests that play a hostile peer. Returns the call's final gRPC status code (0: OK) and message.
  std::pair<int, std::string> sendRawFrames(const std::vector<std::string>& frames) const;

  const std::string& target() const;

 private:
  struct Impl;
  struct DirectLane;
  using DirectStep = std::function<uint64_t(detail::MessageStreamSender&, std::chrono::steady_clock::time_point)>;

  /// One Ping call with `payload`; returns the reply's node name and ring port.
  std::pair<std::string, int> pingCall(const std::string& payload) const;
  /// Sends over the direct connection; false when the peer has none (then gRPC carries the message).
  bool sendDirect(const Message& message, CodecKind codec) const;
  /// Opens the lane's direct connection on first use. False when there is none to open. Holds the lane's mutex.
  bool openDirectLocked(DirectLane& lane) const;
  /// Runs `step` on the lane's connection with the send deadline; on failure closes it (the next send opens a
  /// fresh one) and throws the failure as send() reports it. Holds the lane's mutex.
  uint64_t directCall(DirectLane& lane, const std::string& what, const DirectStep& step) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ravnest
