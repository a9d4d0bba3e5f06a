#pragma once

#include <optional>

#include <c10/core/Device.h>
#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include "ravnest/comm/message.h"

namespace ravnest::detail {

/// Moves a node's pipeline messages between its device and host memory on copy streams of their own (one each
/// way), so that on an accelerator the copies overlap with the kernels the compute thread queues on its
/// stream, and the compute thread never waits for them:
///
/// - outgoing: the compute thread marks where its stream stood when it posted a message (markReady); the
///   outbox thread makes the copy stream wait for that point and copies the tensors to host memory (toHost);
/// - incoming: the inbox pump copies them to the device and waits until they are there (toDevice); the
///   compute thread then tells the caching allocator that its stream uses them (adopt), so that their memory
///   is not handed to the copy stream again while compute kernels may still read it.
///
/// Written against c10's device-generic streams and events, so the same code serves CUDA and any other
/// accelerator with streams. On the CPU, or on a device without a stream pool, every call passes the message
/// through untouched. The micro-batch header tensor stays in host memory: the node reads it there. A device
/// named without an index ("cuda") is the current device of the thread that builds this object, as it is for
/// the stage's own `.to(device)`.
class DeviceCopies {
 public:
  /// Where the compute stream stood when a message was posted.
  class ReadyMark {
   private:
    friend class DeviceCopies;
    std::optional<c10::Event> event_;
  };

  explicit DeviceCopies(c10::Device device);

  /// Whether copies take streams of their own (false on the CPU).
  bool active() const { return toHostStream_.has_value(); }

  /// Compute thread, as it posts `message`: its tensors are complete once the compute stream passed this
  /// mark. Empty for a message without device tensors (a marker), which needs no wait.
  ReadyMark markReady(const Message& message) const;
  /// Sending thread: the message's device tensors replaced by host copies, made on the outgoing copy stream
  /// once the compute stream passed `mark`.
  void toHost(Message& message, const ReadyMark& mark) const;
  /// Receiving thread: the message's host tensors replaced by device copies, made on the incoming copy stream;
  /// returns once they are complete.
  /// Tensors already on the device stay as they are, so a message offered again is not copied twice.
  void toDevice(Message& message) const;
  /// Compute thread, as it takes a message that toDevice moved: its tensors are used on the compute stream now.
  void adopt(const Message& message) const;

 private:
  /// Whether `named` is a payload tensor in this device's memory.
  bool isOnDevice(const NamedTensor& named) const;

  c10::Device device_;
  const c10::impl::DeviceGuardImplInterface* guard_ = nullptr;
  std::optional<c10::Stream> toHostStream_;
  std::optional<c10::Stream> toDeviceStream_;
};

}  // namespace ravnest::detail
