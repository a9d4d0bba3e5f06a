#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ravnest/comm/message.h"
#include "ravnest/comm/transport_options.h"
#include "ravnest/tensor/codec.h"

namespace ravnest {

/// A persistent connection from one node to one peer. The channel is opened once and reused by every call;
/// concurrent calls share it. Thread-safe.
class PeerClient {
 public:
  /// Does not connect yet: the first call does. `selfName` names this node in logs and in the messages it sends.
  PeerClient(std::string selfName, std::string target, TransportOptions options = {});
  ~PeerClient();
  PeerClient(const PeerClient&) = delete;
  PeerClient& operator=(const PeerClient&) = delete;

  /// Sends `message` (its `sender` is set to this node), compressing floating tensors with `codec`. Returns once
  /// the message is in the peer's inbox. Blocks while that inbox is full.
  /// Throws TimeoutError after the deadline, NetworkError when the peer is unreachable, goes away or refuses
  /// our token, ProtocolError when it rejects the message, InvalidArgumentError for tensors the wire cannot
  /// carry.
  void send(Message message, CodecKind codec = CodecKind::kNone) const;

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
  /// One Ping call with `payload`; returns the reply's node name and ring port.
  std::pair<std::string, int> pingCall(const std::string& payload) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ravnest
