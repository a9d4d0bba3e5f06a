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
  auto shared = validator ? std::make_shared<const Validator>(std::move(validator)) : nullptr;
  std::lock_guard<std::mutex> lock(validatorsMutex);
  validators[static_cast<size_t>(kind)] = std::move(shared);
}

void ServerState::setArrivalPlanner(PeerServer::ArrivalPlanner planner) {
  auto shared = planner ? std::make_shared<const PeerServer::ArrivalPlanner>(std::move(planner)) : nullptr;
  std::lock_guard<std::mutex> lock(validatorsMutex);
  arrivalPlanner = std::move(shared);
}

std::optional<ArrivalReduction> ServerState::planArrival(const Message& header, const TensorMeta& tensor) {
  std::shared_ptr<const PeerServer::ArrivalPlanner> planner;
  {
    std::lock_guard<std::mutex> lock(validatorsMutex);
    planner = arrivalPlanner;
  }
  if (!planner) return std::nullopt;
  return (*planner)(header, tensor);
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
  std::shared_ptr<const Validator> validator;
  {
    std::lock_guard<std::mutex> lock(validatorsMutex);
    validator = validators[static_cast<size_t>(message.kind)];
  }
  if (validator) (*validator)(message);
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
