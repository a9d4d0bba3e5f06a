// Python bindings of the cluster/ layer: genetic cluster formation.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

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
         double modelSizeGb, std::optional<int> numClusters, std::uint64_t seed) {
        RAVNEST_CHECK(ramGb.size() == bandwidthMbps.size(),
                      "form_clusters: ram_gb and bandwidth_mbps must have one entry per node");
        std::vector<ravnest::NodeResources> nodes;
        for (std::size_t i = 0; i < ramGb.size(); ++i) nodes.push_back({ramGb[i], bandwidthMbps[i]});
        ravnest::ClusterFormationOptions options;
        options.modelSizeGb = modelSizeGb;
        options.numClusters = numClusters;
        options.seed = seed;
        return ravnest::formClusters(nodes, options);
      },
      py::arg("ram_gb"), py::arg("bandwidth_mbps"), py::arg("model_size_gb"),
      py::arg("n_clusters") = py::none(), py::arg("seed") = 0,
      py::call_guard<py::gil_scoped_release>(),
      "Groups nodes into clusters that can each hold the model (genetic algorithm, deterministic "
      "for a seed). With n_clusters=None the largest feasible cluster count is chosen. Check "
      "`feasible` on the result. Raises ValueError on invalid input.");
}
