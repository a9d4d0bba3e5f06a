#pragma once

#include <grpcpp/server_context.h>
#include <spdlog/logger.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "ravnest/comm/inbox.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/comm/transport_options.h"

namespace ravnest::detail {

/// Metadata key that carries the job token on every call.
constexpr const char* kTokenMetadataKey = "ravnest-token";

/// What the gRPC handlers of one node share: its identity, limits, inboxes and counters.
struct ServerState {
  ServerState(std::string nodeName, TransportOptions transportOptions);

  /// True when the call carries the job token (or none is configured). A refusal is counted and logged
  /// with the caller's address. Thread-safe.
  bool authorize(const grpc::CallbackServerContext& context, const char* method);

  Inbox& inbox(MessageKind kind) { return *inboxes[static_cast<size_t>(kind)]; }

  using Validator = std::function<void(const Message&)>;
  /// Replaces the validator of `kind` once no thread runs the old one. Not from a validator.
  void setValidator(MessageKind kind, Validator validator);
  /// Decides whether a complete message enters its inbox: `nonFinite` names its first tensor holding NaN or Inf
  /// (empty when none; the assembler finds it) and options.nonFinite says what to do then; next runs the
  /// validator of its kind, if any. Returns false for a message to drop
  /// silently (a skipped non-finite one); throws ProtocolError (PermissionError for a sender that may not send
  /// it) to reject it.
  bool admit(const Message& message, const std::string& nonFinite);

  /// Replaces the planner once no thread runs the old one. Not from a planner or validator.
  void setArrivalPlanner(PeerServer::ArrivalPlanner planner);
  /// Where a kRingChunk with this header is reduced as it arrives (PeerServer::setArrivalPlanner), or nothing.
  /// Throws like a validator to reject the message.
  std::optional<ArrivalReduction> planArrival(const Message& header, const TensorMeta& tensor);

  const std::string node;
  const TransportOptions options;
  const std::shared_ptr<spdlog::logger> log;
  std::array<std::unique_ptr<Inbox>, kMessageKindCount> inboxes;
  std::atomic<uint64_t> refusedRequests{0};
  // Held shared while a validator or the planner runs, exclusively while one is replaced: once setValidator or
  // setArrivalPlanner returns, no thread runs the old one any more, so its owner (a RingAllReduce) may go.
  mutable std::shared_mutex rulesMutex;
  std::array<Validator, kMessageKindCount> validators;  // guarded by rulesMutex
  PeerServer::ArrivalPlanner arrivalPlanner;            // guarded by rulesMutex
  std::atomic<uint64_t> rejectedMessages{0};
  std::atomic<uint64_t> skippedMessages{0};
  std::atomic<int> ringPort{0};  // where ring connections are accepted, in every ping reply; 0: none
};

}  // namespace ravnest::detail
