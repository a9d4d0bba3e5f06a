#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include <c10/core/ScalarType.h>

#include "node/peer_links.h"
#include "node/stage_plan.h"
#include "ravnest/comm/message.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/config/node_config.h"

namespace ravnest::detail {

/// Which pipeline messages a node lets into its inboxes, decided on gRPC threads before they get there, so
/// that no message a peer could not legitimately send reaches the compute thread:
/// - activations only from the stages before this one (the root: only prediction answers from the last
///   stage), carrying values this stage takes; gradients only from the stages this one sends to, for
///   training micro-batches that still await them; control messages only from nodes of the job;
/// - each micro-batch id at most once per sender and kind;
/// - a value's dtype stays the one the first accepted message carried.
/// A sender that may not send a message gets PERMISSION_DENIED naming the claimed sender; anything else
/// INVALID_ARGUMENT. The sender is the name a message claims: the job token (and TLS) keep strangers out, and
/// this keeps a member of the job to its place in the pipeline. Thread-safe.
class MessageAdmission {
 public:
  MessageAdmission(const NodeConfig& config, const StagePlan& plan, const PeerLinks& links);

  /// Installs the activation, gradient and control validators on `server`.
  void install(PeerServer& server);

  /// Root: training micro-batch `id` entered the pipeline here, so its gradients will come back.
  void expectGradients(uint64_t id);

 private:
  /// Ids one sender has sent, with bounded memory: beyond the newest kRemembered, every older id counts as seen.
  struct SeenIds {
    std::set<uint64_t> recent;
    bool forgotten = false;
    uint64_t newestForgotten = 0;
  };

  void checkActivation(const Message& message);
  void checkGradient(const Message& message);
  void checkControl(const Message& message) const;

  std::string namesOfStages(int from, int to) const;  // "node_a, node_b" for stages [from, to)
  std::string namesOfDestinations() const;            // the nodes this stage sends activations to
  /// Throws when a tensor's dtype differs from the one its value first came with.
  void checkDtypesLocked(const Message& message) const;
  void learnDtypesLocked(const Message& message);
  /// Throws when the sender used the message's id before; remembers it otherwise.
  void rememberIdLocked(MessageKind kind, const Message& message);
  void expectGradientsLocked(uint64_t id);

  const NodeConfig& config_;
  const StagePlan& plan_;
  const PeerLinks& links_;  // knows the stage of each cluster member
  std::set<std::string> jobNodes_;  // every node that may send control messages
  std::mutex mutex_;
  std::map<std::pair<MessageKind, std::string>, c10::ScalarType> dtypes_;  // by kind and value name
  std::map<std::pair<MessageKind, std::string>, SeenIds> seen_;            // by kind and sender
  std::map<uint64_t, std::set<int>> awaitedGradients_;                     // id -> stages yet to send them
};

}  // namespace ravnest::detail
