#include "comm/server_state.h"

#include <utility>

#include "common/constant_time.h"
#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {

ServerState::ServerState(std::string nodeName, TransportOptions transportOptions)
    : node(std::move(nodeName)), options(std::move(transportOptions)), log(logger(node)) {
  for (auto& inbox : inboxes) inbox = std::make_unique<Inbox>(options.inboxCapacity);
}

void ServerState::setValidator(MessageKind kind, Validator validator) {
  std::unique_lock<std::shared_mutex> lock(rulesMutex);  // waits for the calls running the old one
  validators[static_cast<size_t>(kind)] = std::move(validator);
}

void ServerState::setArrivalPlanner(PeerServer::ArrivalPlanner planner) {
  std::unique_lock<std::shared_mutex> lock(rulesMutex);
  arrivalPlanner = std::move(planner);
}

std::optional<ArrivalReduction> ServerState::planArrival(const Message& header, const TensorMeta& tensor) {
  std::shared_lock<std::shared_mutex> lock(rulesMutex);
  if (!arrivalPlanner) return std::nullopt;
  return arrivalPlanner(header, tensor);
}

bool ServerState::admit(const Message& message, const std::string& nonFinite) {
  if (!nonFinite.empty()) {
    const std::string why = messageKindName(message.kind) + " " + std::to_string(message.id) + " from " +
                            message.sender + ": tensor '" + nonFinite + "' holds NaN or Inf";
    if (options.nonFinite == NonFinitePolicy::kReject) throw ProtocolError(why);
    ++skippedMessages;
    log->warn("skipped {}", why);
    return false;
  }
  std::shared_lock<std::shared_mutex> lock(rulesMutex);
  const Validator& validator = validators[static_cast<size_t>(message.kind)];
  if (validator) validator(message);
  return true;
}

bool ServerState::authorize(const grpc::CallbackServerContext& context, const char* method) {
  if (options.authToken.empty()) return true;
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find(kTokenMetadataKey);
  if (found != metadata.end() && constantTimeEquals(options.authToken, std::string_view(found->second.data(), found->second.size()))) return true;
  ++refusedRequests;
  log->warn("refused {} from {}: {} job token", method, context.peer(),
            found == metadata.end() ? "no" : "wrong");
  return false;
}

}  // namespace ravnest::detail
