#include "node/resume_agreement.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

constexpr const char* kStateName = "ravnest.resume_state";  // [request, resuming, count, count, ...]
constexpr std::chrono::milliseconds kRetryEvery{200};
constexpr std::chrono::milliseconds kAnswerDeadline{2000};

std::string countsText(const std::vector<uint64_t>& counts) {
  if (counts.empty()) return "none";
  std::string text;
  for (uint64_t count : counts) text += (text.empty() ? "" : ", ") + std::to_string(count);
  return text;
}

}  // namespace

ResumeAgreement::ResumeAgreement(const NodeConfig& config, JobPeers& peers, bool resuming,
                                 std::vector<uint64_t> checkpoints)
    : config_(config), peers_(peers), own_{resuming, std::move(checkpoints)} {
  states_[config_.name()] = own_;
}

bool ResumeAgreement::isResumeState(const Message& message) {
  return message.kind == MessageKind::kControl && message.tensors.size() == 1 &&
         message.tensors[0].name == kStateName;
}

Message ResumeAgreement::ownStateMessage(bool request) const {
  Message message;
  message.kind = MessageKind::kControl;
  at::Tensor fields = at::empty({static_cast<int64_t>(own_.checkpoints.size()) + 2}, at::kLong);
  fields[0] = request ? 1 : 0;
  fields[1] = own_.resuming ? 1 : 0;
  for (size_t i = 0; i < own_.checkpoints.size(); ++i) fields[i + 2] = static_cast<int64_t>(own_.checkpoints[i]);
  message.tensors.push_back({kStateName, fields});
  return message;
}

void ResumeAgreement::onState(const Message& message) {
  const JobMember* member = peers_.find(message.sender);
  RAVNEST_CHECK_AS(ProtocolError, member != nullptr, config_.name(), ": a resume state came from ", message.sender,
                   ", which is not a node of this job");
  const at::Tensor& raw = message.tensors[0].tensor;
  RAVNEST_CHECK_AS(ProtocolError, raw.scalar_type() == at::kLong && raw.dim() == 1 && raw.numel() >= 2,
                   config_.name(), ": the resume state of ", message.sender, " is malformed");
  const at::Tensor fields = raw.contiguous();
  const int64_t* values = fields.data_ptr<int64_t>();
  const bool request = values[0] != 0;
  State state{values[1] != 0, {}};
  for (int64_t i = 2; i < fields.numel(); ++i) {
    RAVNEST_CHECK_AS(ProtocolError, values[i] > 0, config_.name(), ": the resume state of ", message.sender,
                     " names checkpoint ", values[i]);
    state.checkpoints.push_back(static_cast<uint64_t>(values[i]));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    states_[message.sender] = std::move(state);
  }
  heard_.notify_all();
  if (!request) return;
  try {
    if (!peers_.sendUntil(*member, ownStateMessage(false), std::chrono::steady_clock::now() + kAnswerDeadline,
                          kRetryEvery)) {
      logger(config_.name())->warn("could not answer the resume state of {}: it does not listen", message.sender);
    }
  } catch (const Error& e) {
    logger(config_.name())->warn("could not answer the resume state of {}: {}", message.sender, e.what());
  }
}

void ResumeAgreement::abandon(std::exception_ptr why) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!abandoned_) abandoned_ = std::move(why);
  }
  heard_.notify_all();
}

uint64_t ResumeAgreement::agree(std::chrono::milliseconds timeout) {
  const auto giveUpAt = std::chrono::steady_clock::now() + timeout;
  const auto abandoned = [this] {
    std::lock_guard<std::mutex> lock(mutex_);
    return abandoned_ != nullptr;
  };
  std::vector<std::string> silent;
  for (const JobMember& member : config_.jobNodes) {
    if (member.nodeId == config_.nodeId) continue;
    if (!peers_.sendUntil(member, ownStateMessage(true), giveUpAt, kRetryEvery, abandoned) && !abandoned()) {
      silent.push_back(member.name() + " (" + member.address + ")");
    }
  }
  std::unique_lock<std::mutex> lock(mutex_);
  heard_.wait_until(lock, giveUpAt, [&] { return abandoned_ || states_.size() >= config_.jobNodes.size(); });
  if (abandoned_) std::rethrow_exception(abandoned_);
  for (const JobMember& member : config_.jobNodes) {
    const std::string entry = member.name() + " (" + member.address + ")";
    if (states_.count(member.name()) == 0 && std::find(silent.begin(), silent.end(), entry) == silent.end()) {
      silent.push_back(entry);
    }
  }
  if (!silent.empty()) {
    std::string names;
    for (const auto& name : silent) names += (names.empty() ? "" : ", ") + name;
    throw TimeoutError(config_.name() + ": resuming needs every node of the job, and " + names +
                       " did not answer within " + std::to_string(timeout.count() / 1000) +
                       " s: start every provider with resume=True");
  }
  return decide(states_);
}

uint64_t ResumeAgreement::decide(const std::map<std::string, State>& states) const {
  std::string fresh;
  for (const auto& [name, state] : states) {
    if (!state.resuming) fresh += (fresh.empty() ? "" : ", ") + name;
  }
  RAVNEST_CHECK_AS(ConfigError, fresh.empty(), config_.name(), ": ", fresh,
                   " started without resume=True while this node resumes: a stage trained from the start beside "
                   "trained ones would corrupt the model. Start every provider with resume=True, or none (a node "
                   "started without it moved its checkpoints to checkpoint.previous-run/: rename that folder back "
                   "to checkpoint/ first)");
  std::vector<uint64_t> common = states.begin()->second.checkpoints;
  std::sort(common.begin(), common.end());
  for (const auto& [name, state] : states) {
    std::vector<uint64_t> theirs = state.checkpoints;
    std::sort(theirs.begin(), theirs.end());
    std::vector<uint64_t> both;
    std::set_intersection(common.begin(), common.end(), theirs.begin(), theirs.end(), std::back_inserter(both));
    common = std::move(both);
  }
  if (!common.empty()) return common.back();
  std::string held;
  std::string lacking;
  for (const auto& [name, state] : states) {
    held += "\n  " + name + ": " + countsText(state.checkpoints);
    if (state.checkpoints.empty()) lacking += (lacking.empty() ? "" : ", ") + name;
  }
  throw ConfigError(config_.name() + ": cannot resume: " +
                    (lacking.empty() ? std::string("no checkpoint is held by every node of the job")
                                     : lacking + " has no checkpoint") +
                    ", so there is no step that every stage could restore (checkpoints by backward-pass count:" +
                    held +
                    ")\nA node lacks one when it was killed before its first periodic checkpoint "
                    "(checkpoint_interval) or its checkpoint folder was removed. Start every provider without "
                    "resume=True to train from the beginning.");
}

}  // namespace ravnest::detail
