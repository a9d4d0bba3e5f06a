#include "node/prediction_mailbox.h"

#include "ravnest/common/error.h"

namespace ravnest::detail {

PredictionMailbox::PredictionMailbox(std::string nodeName) : nodeName_(std::move(nodeName)) {}

void PredictionMailbox::deliver(uint64_t id, std::vector<NamedTensor> values) {
  std::lock_guard<std::mutex> lock(mutex_);
  answers_[id] = std::move(values);
  answeredOrFailed_.notify_all();
}

std::vector<NamedTensor> PredictionMailbox::take(uint64_t id, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  const bool answered =
      answeredOrFailed_.wait_for(lock, timeout, [&] { return failure_ || answers_.count(id) > 0; });
  if (failure_) std::rethrow_exception(failure_);
  RAVNEST_CHECK_AS(TimeoutError, answered, nodeName_, ": no prediction came back from the last stage in ",
                   timeout.count() / 1000, " s: check the other nodes' logs");
  auto found = answers_.find(id);
  std::vector<NamedTensor> values = std::move(found->second);
  answers_.erase(found);
  return values;
}

void PredictionMailbox::fail(std::exception_ptr failure) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!failure_) failure_ = std::move(failure);
  answeredOrFailed_.notify_all();
}

}  // namespace ravnest::detail
