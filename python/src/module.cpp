// ravnest._C: the C++ core as seen from Python. The ravnest package re-exports what users need.
#include "bindings.h"

#include <string>

#include "ravnest/common/logging.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "ravnest core: tensor transport, codecs and cluster planning (C++)";
  bindErrors(m);
  m.def("set_log_level", &ravnest::setLogLevel, pybind11::arg("level"),
        "Sets the level of every ravnest logger: trace, debug, info, warn, error, critical or off.");
  m.def("log_level", &ravnest::logLevel, "The current log level's name.");
  bindTransport(m);
  bindCluster(m);
  bindCollectives(m);
  bindNode(m);
  bindSimulator(m);
  bindMatchmaker(m);
}
