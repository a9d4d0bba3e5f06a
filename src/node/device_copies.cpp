#include "node/device_copies.h"

#include <algorithm>
#include <vector>

#include <ATen/core/grad_mode.h>
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
    // Two streams: an arrival must not wait behind a departure that waits for the compute stream.
    toHostStream_ = guard_->getStreamFromGlobalPool(device_);
    toDeviceStream_ = guard_->getStreamFromGlobalPool(device_);
  } catch (const c10::Error& error) {
    // A device without streams: the copies then happen where the tensors are used, as on the CPU.
    logger("ravnest")->debug("no copy streams on {}: {}", device.str(), error.what_without_backtrace());
    toHostStream_.reset();
    toDeviceStream_.reset();
  }
}

bool DeviceCopies::isOnDevice(const NamedTensor& named) const {
  return travelsOnDevice(named) && named.tensor.device() == device_;
}

DeviceCopies::ReadyMark DeviceCopies::markReady(const Message& message) const {
  ReadyMark mark;
  if (!active() || std::none_of(message.tensors.begin(), message.tensors.end(),
                                [this](const NamedTensor& named) { return isOnDevice(named); })) {
    return mark;
  }
  mark.event_.emplace(device_.type());
  mark.event_->record(guard_->getStream(device_));
  return mark;
}

void DeviceCopies::toHost(Message& message, const ReadyMark& mark) const {
  if (!active() || !mark.event_) return;
  mark.event_->block(*toHostStream_);
  // The device tensors stay referenced until the stream is synchronised: their memory must not go back to
  // the caching allocator while the copies may still read it.
  std::vector<at::Tensor> sources;
  {
    const at::NoGradGuard noGrad;
    const c10::StreamGuard onCopyStream(*toHostStream_);
    for (auto& named : message.tensors) {
      if (!isOnDevice(named)) continue;
      sources.push_back(named.tensor);
      named.tensor = named.tensor.to(c10::kCPU);
    }
  }
  guard_->synchronizeStream(*toHostStream_);
}

void DeviceCopies::toDevice(Message& message) const {
  if (!active()) return;
  {
    const at::NoGradGuard noGrad;
    const c10::StreamGuard onCopyStream(*toDeviceStream_);
    for (auto& named : message.tensors) {
      if (travelsOnDevice(named) && named.tensor.is_cpu()) named.tensor = named.tensor.to(device_);
    }
  }
  guard_->synchronizeStream(*toDeviceStream_);
}

void DeviceCopies::adopt(const Message& message) const {
  if (!active()) return;
  const c10::Stream computeStream = guard_->getStream(device_);
  for (const auto& named : message.tensors) {
    if (isOnDevice(named)) guard_->recordDataPtrOnStream(named.tensor.storage().data_ptr(), computeStream);
  }
}

}  // namespace ravnest::detail
