#include "node/in_flight_window.h"

#include "ravnest/common/error.h"

namespace ravnest::detail {

InFlightWindow::InFlightWindow(std::string nodeName, size_t limit, std::string backwardSource)
    : nodeName_(std::move(nodeName)), limit_(limit), backwardSource_(std::move(backwardSource)) {
  RAVNEST_CHECK(limit > 0, nodeName_, ": at least one micro-batch must be allowed in flight");
}

void InFlightWindow::acquire(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  const bool ready =
      slotFreedOrFailed_.wait_for(lock, timeout, [&] { return failure_ || inFlight_ < limit_; });
  throwIfFailedLocked();
  RAVNEST_CHECK_AS(TimeoutError, ready, nodeName_, ": no backward pass came back", fromSource(), " for ", timeout.count() / 1000,
                   " s while ", inFlight_, " micro-batches were in flight: check the other nodes' logs");
  ++inFlight_;
}

void InFlightWindow::release() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (inFlight_ > 0) --inFlight_;
  slotFreedOrFailed_.notify_all();
}

void InFlightWindow::waitUntilEmpty(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  const bool empty = slotFreedOrFailed_.wait_for(lock, timeout, [&] { return failure_ || inFlight_ == 0; });
  throwIfFailedLocked();
  RAVNEST_CHECK_AS(TimeoutError, empty, nodeName_, ": ", inFlight_, " backward passes still missing", fromSource(), " after ",
                   timeout.count() / 1000, " s: check the other nodes' logs");
}

std::string InFlightWindow::fromSource() const {
  return backwardSource_.empty() ? std::string() : " from " + backwardSource_;
}

void InFlightWindow::fail(std::exception_ptr failure) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!failure_) failure_ = std::move(failure);
  slotFreedOrFailed_.notify_all();
}

void InFlightWindow::throwIfFailedLocked() const {
  if (failure_) std::rethrow_exception(failure_);
}

}  // namespace ravnest::detail
