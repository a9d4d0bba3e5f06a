#include "hook_gil.h"

namespace {

/// The thread state HookGil keeps for a thread that Python did not make, dropped when the thread ends.
class KeptThreadState {
 public:
  /// Keeps the thread state that `gil` holds, on its first call on a thread without one of its own.
  void keep(pybind11::gil_scoped_acquire& gil, bool threadMadeByPython) {
    if (kept_ || threadMadeByPython) return;
    gil.inc_ref();
    kept_ = true;
  }

  ~KeptThreadState() {
    // A thread ending after the interpreter began to shut down may not take the GIL; its state is then left
    // to the interpreter, which deletes every thread state as it finishes.
    if (!kept_ || !Py_IsInitialized() || _Py_IsFinalizing()) return;
    pybind11::gil_scoped_acquire gil;
    gil.dec_ref();
  }

 private:
  bool kept_ = false;
};

/// Whether the calling thread had a Python thread state before its first HookGil.
bool threadMadeByPython() {
  thread_local const bool madeByPython = PyGILState_GetThisThreadState() != nullptr;
  return madeByPython;
}

}  // namespace

HookGil::HookGil() : threadMadeByPython_(threadMadeByPython()) {
  thread_local KeptThreadState keptState;
  keptState.keep(gil_, threadMadeByPython_);
}
