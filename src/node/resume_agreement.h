#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "node/job_peers.h"
#include "ravnest/comm/message.h"
#include "ravnest/config/node_config.h"

namespace ravnest::detail {

/// Where a resumed job starts: every stage of every cluster restores the same consistent cut, the newest
/// checkpoint (named by its backward-pass count) that all of them hold, so that no stage trains from scratch
/// or from another step beside the others.
///
/// A resuming node asks every node of the job for its state, telling its own (that it resumes, and which
/// checkpoints it holds), and waits for each answer. Every node, resuming or not, answers every such request
/// with its own state (answers are not answered), so a node started without resume is named at once instead
/// of being waited for, and a node restarted during the agreement is answered again.
class ResumeAgreement {
 public:
  /// `resuming` and `checkpoints` are this node's state (NodeOptions::resume, NodeOptions::checkpoints).
  ResumeAgreement(const NodeConfig& config, JobPeers& peers, bool resuming, std::vector<uint64_t> checkpoints);

  /// This node resumes: returns the newest checkpoint count that every node of the job holds. Throws
  /// ConfigError naming the nodes that were started without resume or lack that checkpoint (and what to do),
  /// TimeoutError naming the nodes that did not answer within `timeout`.
  uint64_t agree(std::chrono::milliseconds timeout);

  /// The node stopped (a peer's abort, a signal): agree() throws `why` instead of waiting on.
  void abandon(std::exception_ptr why);

  /// Control pump: a node's state (isResumeState). Answers it with this node's state when it is a request.
  void onState(const Message& message);
  static bool isResumeState(const Message& message);

 private:
  struct State {
    bool resuming = false;
    std::vector<uint64_t> checkpoints;
  };
  Message ownStateMessage(bool request) const;
  uint64_t decide(const std::map<std::string, State>& states) const;

  const NodeConfig& config_;
  JobPeers& peers_;
  const State own_;
  std::mutex mutex_;
  std::condition_variable heard_;
  std::map<std::string, State> states_;  // by node name, this node's included
  std::exception_ptr abandoned_;
};

}  // namespace ravnest::detail
