#include "node/device_copies.h"

#include <c10/core/StreamGuard.h>
#include <c10/util/Exception.h>

#include "node/micro_batch_meta.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

/// `device` with an index: a stream pool belongs to one device.
c10::Device indexed(c10::Device device, const c10::impl::DeviceGuardImplInterface& guard) {
  return device.has_index() ? device : c10::Device(device.type(), guard.getDevice().index());
}

bool travelsOnDevice(const NamedTensor& named) { return named.tensor.defined() && !isMetaTensor(named); }

}  // namespace

DeviceCopies::DeviceCopies(c10::Device device) : device_(device) {
  if (device.is_cpu()) return;
  try {
    guard_ = c10::impl::getDeviceGuardImpl(device.type());
    device_ = indexed(device, *guard_);
    copyStream_ = guard_->getStreamFromGlobalPool(device_);
  } catch (const c10::Error& error) {
    // A device without streams: the copies then happen where the tensors are used, as on the CPU.
    logger("ravnest")->debug("no copy stream on {}: {}", device.str(), error.what_without_backtrace());
    copyStream_.reset();
  }
}

DeviceCopies::ReadyMark DeviceCopies::markReady() const {
  ReadyMark mark;
  if (!active()) return mark;
  mark.event_.emplace(device_.type());
  mark.event_->record(guard_->getStream(device_));
  return mark;
}

void DeviceCopies::toHost(Message& message, ReadyMark& mark) const {
  if (!active() || !mark.event_) return;
  mark.event_->block(*copyStream_);
  {
    c10::StreamGuard onCopyStream(*copyStream_);
    for (auto& named : message.tensors) {
      if (travelsOnDevice(named) && named.tensor.device() == device_) named.tensor = named.tensor.to(c10::kCPU);
    }
  }
  // The device tensors may go back to the caching allocator as this message is sent: their reads are done.
  guard_->synchronizeStream(*copyStream_);
}

void DeviceCopies::toDevice(Message& message) const {
  if (!active()) return;
  {
    c10::StreamGuard onCopyStream(*copyStream_);
    for (auto& named : message.tensors) {
      if (travelsOnDevice(named) && named.tensor.is_cpu()) named.tensor = named.tensor.to(device_);
    }
  }
  guard_->synchronizeStream(*copyStream_);
}

void DeviceCopies::adopt(const Message& message) const {
  if (!active()) return;
  const c10::Stream computeStream = guard_->getStream(device_);
  for (const auto& named : message.tensors) {
    if (travelsOnDevice(named) && named.tensor.device() == device_) {
      guard_->recordDataPtrOnStream(named.tensor.storage().data_ptr(), computeStream);
    }
  }
}

}  // namespace ravnest::detail
