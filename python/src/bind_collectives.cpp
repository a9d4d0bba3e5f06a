// Python bindings of the parallel multi-ring all-reduce. averageInPlace runs with the GIL released.
#include "bindings.h"

#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include "ravnest/collectives/ring_all_reduce.h"
#include "ravnest/common/error.h"

namespace py = pybind11;

namespace {

/// A ring from the node JSON's `rings` entry form: {"ring_id", "params", "numels", "next": {"address"}}, or a
/// dict with "next" given directly as an address string.
ravnest::RingSpec ringFromDict(const py::dict& ring) {
  ravnest::RingSpec spec;
  RAVNEST_CHECK(ring.contains("ring_id") && ring.contains("params") && ring.contains("numels") && ring.contains("next"),
                "a ring needs ring_id, params, numels and next");
  spec.ringId = ring["ring_id"].cast<uint32_t>();
  spec.tensorNames = ring["params"].cast<std::vector<std::string>>();
  spec.numels = ring["numels"].cast<std::vector<int64_t>>();
  const py::object next = ring["next"];
  spec.nextAddress = py::isinstance<py::dict>(next) ? next["address"].cast<std::string>() : next.cast<std::string>();
  return spec;
}

}  // namespace

void bindCollectives(py::module_& m) {
  py::class_<ravnest::RingAllReduce>(m, "RingAllReduce",
                                     "Parallel multi-ring all-reduce of named tensors across clusters.")
      .def(py::init([](ravnest::PeerServer& server, const std::string& nodeName, int rank, int ringSize,
                       const py::list& rings, const std::string& codec, int64_t segmentBytes,
                       const std::string& authToken, double deadline) {
             std::vector<ravnest::RingSpec> specs;
             for (const auto& ring : rings) specs.push_back(ringFromDict(ring.cast<py::dict>()));
             RAVNEST_CHECK(deadline > 0, "the deadline must be positive, got ", deadline);
             ravnest::RingAllReduceOptions options;
             options.codec = ravnest::parseCodec(codec);
             options.segmentBytes = segmentBytes;
             options.transport.authToken = authToken;
             options.transport.deadline = std::chrono::milliseconds(static_cast<int64_t>(deadline * 1000));
             options.chunkDeadline = options.transport.deadline;
             return std::make_unique<ravnest::RingAllReduce>(server, nodeName, rank, ringSize, std::move(specs),
                                                             options);
           }),
           py::arg("server"), py::arg("node_name"), py::arg("rank"), py::arg("ring_size"), py::arg("rings"),
           py::arg("codec") = "none", py::arg("segment_bytes") = int64_t{16} << 20, py::arg("auth_token") = "",
           py::arg("deadline") = 60.0, py::keep_alive<1, 2>(),
           "rings: dicts with ring_id, params (tensor names), numels and next (address, or {'address': ...}).")
      .def(
          "average_",
          [](ravnest::RingAllReduce& reducer, const py::dict& tensors) {
            std::unordered_map<std::string, at::Tensor> named;
            for (const auto& [name, tensor] : tensors) named.emplace(py::cast<std::string>(name), py::cast<at::Tensor>(tensor));
            py::gil_scoped_release released;
            reducer.averageInPlace(named);
          },
          py::arg("tensors"), "Replaces each named tensor with its mean across the ring members, in place.")
      .def_property_readonly("rounds", &ravnest::RingAllReduce::rounds);
}
