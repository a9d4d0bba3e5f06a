#include "node_option_fields.h"

#include <pybind11/stl.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "ravnest/common/error.h"

namespace py = pybind11;
using ravnest::NodeOptions;

namespace {

struct Field {
  std::function<py::object(const NodeOptions&)> get;
  std::function<void(NodeOptions&, const py::handle&)> set;
};

double secondsOf(std::chrono::milliseconds duration) { return static_cast<double>(duration.count()) / 1000.0; }

std::chrono::milliseconds durationOf(const std::string& name, const py::handle& value, bool zeroAllowed) {
  const double seconds = value.cast<double>();
  RAVNEST_CHECK(std::isfinite(seconds) && (seconds > 0 || (zeroAllowed && seconds == 0)), name, " must be ",
                zeroAllowed ? "0 or more" : "positive", " seconds, got ", seconds);
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

/// A duration field in seconds.
Field seconds(const char* name, std::chrono::milliseconds NodeOptions::*field, bool zeroAllowed = false) {
  return {[field](const NodeOptions& o) { return py::cast(secondsOf(o.*field)); },
          [name, field, zeroAllowed](NodeOptions& o, const py::handle& v) { o.*field = durationOf(name, v, zeroAllowed); }};
}

/// A field Python sees as its own C++ type (bool, int, string, lists).
template <typename T>
Field plain(T NodeOptions::*field) {
  return {[field](const NodeOptions& o) { return py::cast(o.*field); },
          [field](NodeOptions& o, const py::handle& v) { o.*field = v.cast<T>(); }};
}

template <typename T>
Field transport(T ravnest::TransportOptions::*field) {
  return {[field](const NodeOptions& o) { return py::cast(o.transport.*field); },
          [field](NodeOptions& o, const py::handle& v) { o.transport.*field = v.cast<T>(); }};
}

Field codec(ravnest::CodecKind NodeOptions::*field) {
  return {[field](const NodeOptions& o) { return py::cast(ravnest::codecName(o.*field)); },
          [field](NodeOptions& o, const py::handle& v) { o.*field = ravnest::parseCodec(v.cast<std::string>()); }};
}

const std::map<std::string, Field>& fields() {
  static const std::map<std::string, Field> table = {
      {"device", {[](const NodeOptions& o) { return py::cast(o.device.str()); },
                  [](NodeOptions& o, const py::handle& v) { o.device = c10::Device(v.cast<std::string>()); }}},
      {"update_frequency", plain(&NodeOptions::updateFrequency)},
      {"max_in_flight", plain(&NodeOptions::maxInFlight)},
      {"schedule", {[](const NodeOptions& o) { return py::cast(ravnest::scheduleName(o.schedule)); },
                    [](NodeOptions& o, const py::handle& v) { o.schedule = ravnest::parseSchedule(v.cast<std::string>()); }}},
      {"recompute", plain(&NodeOptions::recompute)},
      {"lr_step_on_epoch_change", plain(&NodeOptions::lrStepOnEpochChange)},
      {"compression", codec(&NodeOptions::pipelineCodec)},
      {"ring_compression", codec(&NodeOptions::ringCodec)},
      {"reduce_every", plain(&NodeOptions::reduceEvery)},
      {"optim_state_keys", {[](const NodeOptions& o) { return py::cast(o.optimizerState.shapedKeys); },
                            [](NodeOptions& o, const py::handle& v) {
                              o.optimizerState.shapedKeys = v.cast<std::vector<std::string>>();
                            }}},
      {"optim_scalar_keys", {[](const NodeOptions& o) { return py::cast(o.optimizerState.scalarKeys); },
                             [](NodeOptions& o, const py::handle& v) {
                               o.optimizerState.scalarKeys = v.cast<std::vector<std::string>>();
                             }}},
      {"resume", plain(&NodeOptions::resume)},
      {"checkpoints", plain(&NodeOptions::checkpoints)},
      {"checkpoint_interval", seconds("checkpoint_interval", &NodeOptions::checkpointInterval, true)},
      {"startup_timeout", seconds("startup_timeout", &NodeOptions::startupTimeout)},
      {"backward_timeout", seconds("backward_timeout", &NodeOptions::backwardTimeout)},
      {"heartbeat_interval", seconds("heartbeat_interval", &NodeOptions::heartbeatInterval)},
      {"peer_loss_grace", seconds("peer_loss_grace", &NodeOptions::peerLossGrace)},
      {"send_deadline", {[](const NodeOptions& o) { return py::cast(secondsOf(o.transport.deadline)); },
                         [](NodeOptions& o, const py::handle& v) {
                           o.transport.deadline = durationOf("send_deadline", v, false);
                         }}},
      {"auth_token", transport(&ravnest::TransportOptions::authToken)},
      {"tls_cert", transport(&ravnest::TransportOptions::tlsCertFile)},
      {"tls_key", transport(&ravnest::TransportOptions::tlsKeyFile)},
      {"tls_ca", transport(&ravnest::TransportOptions::tlsCaFile)},
      {"non_finite", {[](const NodeOptions& o) {
                        return py::cast(o.transport.nonFinite == ravnest::NonFinitePolicy::kSkip ? "skip" : "reject");
                      },
                      [](NodeOptions& o, const py::handle& v) {
                        const auto name = v.cast<std::string>();
                        RAVNEST_CHECK(name == "reject" || name == "skip", "non_finite must be 'reject' or 'skip', got '",
                                      name, "'");
                        o.transport.nonFinite =
                            name == "skip" ? ravnest::NonFinitePolicy::kSkip : ravnest::NonFinitePolicy::kReject;
                      }}},
      {"ring_port", {[](const NodeOptions& o) { return py::cast(o.transport.ringPort); },
                     [](NodeOptions& o, const py::handle& v) {
                       const int port = v.cast<int>();
                       RAVNEST_CHECK(port >= -1 && port < 65536,
                                     "ring_port must be a port, 0 (any free one) or -1 (none), got ", port);
                       o.transport.ringPort = port;
                     }}},
  };
  return table;
}

}  // namespace

py::dict nodeOptionDefaults() {
  const NodeOptions defaults;
  py::dict result;
  for (const auto& [name, field] : fields()) result[py::str(name)] = field.get(defaults);
  return result;
}

NodeOptions nodeOptionsFrom(const py::dict& values) {
  NodeOptions options;
  for (const auto& [key, value] : values) {
    const auto name = key.cast<std::string>();
    const auto found = fields().find(name);
    RAVNEST_CHECK(found != fields().end(), "no node option '", name, "'");
    try {
      found->second.set(options, value);
    } catch (const py::cast_error&) {
      throw ravnest::InvalidArgumentError("node option '" + name + "' cannot take " +
                                          py::repr(value).cast<std::string>());
    }
  }
  RAVNEST_CHECK(options.updateFrequency > 0, "update_frequency must be at least 1, got ", options.updateFrequency);
  RAVNEST_CHECK(options.maxInFlight >= 0, "max_in_flight must not be negative, got ", options.maxInFlight);
  RAVNEST_CHECK(options.reduceEvery >= 0, "reduce_every must not be negative, got ", options.reduceEvery);
  return options;
}
