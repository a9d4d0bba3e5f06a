// Python bindings of the cluster/ layer: genetic cluster formation.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <tuple>

#include "ravnest/cluster/cluster_formation.h"
#include "ravnest/common/error.h"

namespace py = pybind11;

void bindCluster(py::module_& m) {
  py::class_<ravnest::ClusterFormationResult>(m, "ClusterFormationResult")
      .def_readonly("clusters", &ravnest::ClusterFormationResult::clusters,
                    "Node indices per cluster: sorted, non-empty, ordered by smallest index.")
      .def_readonly("feasible", &ravnest::ClusterFormationResult::feasible,
                    "True when every cluster's RAM reaches the model size.")
      .def_readonly("fitness", &ravnest::ClusterFormationResult::fitness,
                    "Cost of the clustering; lower is better.");

  m.def(
      "form_clusters",
      [](const std::vector<double>& ramGb, const std::vector<double>& bandwidthMbps,
         double modelSizeGb, std::optional<int> numClusters, std::uint64_t seed,
         const std::vector<double>& gflops, const std::vector<double>& latencyMs,
         const std::vector<std::tuple<int, int, double, double>>& links) {
        RAVNEST_CHECK(ramGb.size() == bandwidthMbps.size(),
                      "form_clusters: ram_gb and bandwidth_mbps must have one entry per node");
        RAVNEST_CHECK((gflops.empty() || gflops.size() == ramGb.size()) &&
                          (latencyMs.empty() || latencyMs.size() == ramGb.size()),
                      "form_clusters: gflops and latency_ms must be empty or have one entry per node");
        std::vector<ravnest::NodeResources> nodes;
        for (std::size_t i = 0; i < ramGb.size(); ++i) {
          nodes.push_back({ramGb[i], bandwidthMbps[i], gflops.empty() ? 0.0 : gflops[i],
                           latencyMs.empty() ? 0.0 : latencyMs[i]});
        }
        ravnest::ClusterFormationOptions options;
        options.modelSizeGb = modelSizeGb;
        options.numClusters = numClusters;
        options.seed = seed;
        for (const auto& [a, b, bandwidth, latency] : links) options.links.push_back({a, b, bandwidth, latency});
        return ravnest::formClusters(nodes, options);
      },
      py::arg("ram_gb"), py::arg("bandwidth_mbps"), py::arg("model_size_gb"),
      py::arg("n_clusters") = py::none(), py::arg("seed") = 0, py::arg("gflops") = std::vector<double>{},
      py::arg("latency_ms") = std::vector<double>{},
      py::arg("links") = std::vector<std::tuple<int, int, double, double>>{},
      py::call_guard<py::gil_scoped_release>(),
      "Groups nodes into clusters that can each hold the model (genetic algorithm, deterministic "
      "for a seed). With n_clusters=None the largest feasible cluster count is chosen. Check "
      "`feasible` on the result. `links`: measured (node a, node b, Mbit/s, one-way ms); with them, "
      "well-connected nodes are grouped and each cluster comes in stage order along its fastest links. "
      "Raises ValueError on invalid input.");
  m.def("link_speed_mbps", &ravnest::linkSpeedMbps, py::arg("bandwidth_mbps"), py::arg("latency_ms"),
        "How fast a link moves a 1 MB message, in Mbit/s.");
}
