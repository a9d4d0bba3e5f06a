#pragma once

#include <pybind11/pybind11.h>

/// Holds the GIL while C++ calls into Python from a thread of its own (the node's compute thread calls the
/// optimizer and loss hooks several times per micro-batch).
///
/// pybind11 gives such a thread a fresh Python thread state on every acquire and deletes it on release. On
/// Python 3.11 that maps and unmaps the state's 16 KiB frame stack each time, and every munmap of a
/// multi-threaded process interrupts the other cores to flush their TLBs: measured in the 3-provider CNN run,
/// 2 mmap/munmap pairs per micro-batch per node and 3% of all CPU samples in munmap alone. The thread state
/// is therefore kept from the first hook call to the end of the thread. Threads that Python made keep their
/// own state, as before.
class HookGil {
 public:
  HookGil();

 private:
  const bool threadMadeByPython_;  // before gil_: taking the GIL gives the thread a state
  pybind11::gil_scoped_acquire gil_;
};
