// Python bindings of the matchmaker/ layer: the service, a provider's session and a requester's client.

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "ravnest/matchmaker/matchmaker_server.h"
#include "ravnest/matchmaker/provider_session.h"
#include "ravnest/matchmaker/requester_client.h"

namespace py = pybind11;
using namespace ravnest;

namespace {

py::dict profileDict(const ProviderProfile& p) {
  py::dict d;
  d["ram_gb"] = p.ramGb;
  d["matmul_gflops"] = p.matmulGflops;
  d["conv_gflops"] = p.convGflops;
  d["gpu"] = p.gpu;
  d["gpu_gflops"] = p.gpuGflops;
  d["cpu_cores"] = p.cpuCores;
  return d;
}

MatchmakerClientOptions clientOptions(const std::string& address, const std::string& token, const std::string& ca) {
  MatchmakerClientOptions options;
  options.address = address;
  options.token = token;
  options.tlsCaFile = ca;
  return options;
}

}  // namespace

void bindMatchmaker(py::module_& m) {
  py::class_<MatchmakerServer>(m, "MatchmakerServer")
      .def(py::init([](const std::string& host, int port, int statusPort, const std::string& token,
                       const std::string& state, const std::string& tlsCert, const std::string& tlsKey,
                       double providerLostAfter, double requesterLostAfter) {
             MatchmakerOptions options;
             options.host = host;
             options.port = port;
             options.statusPort = statusPort;
             options.token = token;
             options.stateDir = state;
             options.tlsCertFile = tlsCert;
             options.tlsKeyFile = tlsKey;
             options.providerLostAfterS = providerLostAfter;
             options.requesterLostAfterS = requesterLostAfter;
             return std::make_unique<MatchmakerServer>(options);
           }),
           py::arg("host") = "0.0.0.0", py::arg("port") = 7000, py::arg("status_port") = 0, py::arg("token") = "",
           py::arg("state") = "matchmaker_state", py::arg("tls_cert") = "", py::arg("tls_key") = "",
           py::arg("provider_lost_after") = MatchmakerOptions{}.providerLostAfterS,
           py::arg("requester_lost_after") = MatchmakerOptions{}.requesterLostAfterS,
           py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("port", &MatchmakerServer::port)
      .def_property_readonly("status_port", &MatchmakerServer::statusPort)
      .def("wait", &MatchmakerServer::wait, py::call_guard<py::gil_scoped_release>(),
           "Blocks until shutdown() is called from another thread.")
      .def("shutdown", &MatchmakerServer::shutdown, py::call_guard<py::gil_scoped_release>());

  py::class_<ProviderSession>(m, "ProviderSession")
      .def(py::init([](const std::string& matchmaker, const std::string& token, const std::string& tlsCa,
                       const std::string& name, const std::string& advertiseHost, int port,
                       const std::string& workDir, double benchmarkRam, double benchmarkBandwidth,
                       double joinTimeout) {
             ProviderSessionOptions options;
             options.matchmaker = clientOptions(matchmaker, token, tlsCa);
             options.name = name;
             options.advertiseHost = advertiseHost;
             options.port = port;
             options.workDir = workDir;
             options.benchmarkRamGb = benchmarkRam;
             options.benchmarkBandwidthMbps = benchmarkBandwidth;
             return std::make_unique<ProviderSession>(options, joinTimeout);
           }),
           py::arg("matchmaker"), py::arg("token") = "", py::arg("tls_ca") = "", py::arg("name") = "",
           py::arg("advertise_host") = "", py::arg("port") = 0, py::arg("work_dir") = ".",
           py::arg("benchmark_ram_gb") = 0.0, py::arg("benchmark_bandwidth_mbps") = 0.0,
           py::arg("join_timeout") = 0.0, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("name", &ProviderSession::name)
      .def_property_readonly("address", &ProviderSession::address)
      .def_property_readonly("profile", [](const ProviderSession& s) { return profileDict(s.profile()); })
      .def(
          "wait_for_assignment",
          [](ProviderSession& session, double timeout, const std::function<void(const std::string&)>& progress) {
            std::function<void(const std::string&)> withGil;
            if (progress) {
              withGil = [&progress](const std::string& line) {
                py::gil_scoped_acquire acquired;
                progress(line);
              };
            }
            ProviderAssignment a;
            {
              py::gil_scoped_release released;
              a = session.waitForAssignment(timeout, withGil);
            }
            py::dict d;
            d["job"] = a.job;
            d["node_name"] = a.nodeName;
            d["node_data"] = a.nodeDataDir;
            return d;
          },
          py::arg("timeout") = 0.0, py::arg("progress") = nullptr)
      .def("set_figures", &ProviderSession::setFigures, py::arg("figures"), py::arg("role"))
      .def("finish", &ProviderSession::finish, py::call_guard<py::gil_scoped_release>());

  py::class_<RequesterClient>(m, "RequesterClient")
      .def(py::init([](const std::string& address, const std::string& token, const std::string& tlsCa) {
             return std::make_unique<RequesterClient>(clientOptions(address, token, tlsCa));
           }),
           py::arg("address"), py::arg("token") = "", py::arg("tls_ca") = "")
      .def("submit_job", &RequesterClient::submitJob, py::arg("providers"), py::arg("wait"),
           py::call_guard<py::gil_scoped_release>())
      .def("job", &RequesterClient::job, py::arg("job"), py::call_guard<py::gil_scoped_release>())
      .def("upload_artifact", &RequesterClient::uploadArtifact, py::arg("job"), py::arg("provider"),
           py::arg("path"), py::arg("file"), py::call_guard<py::gil_scoped_release>())
      .def("commit", &RequesterClient::commit, py::arg("job"), py::arg("plan_json"),
           py::call_guard<py::gil_scoped_release>())
      .def("cancel", &RequesterClient::cancel, py::arg("job"), py::call_guard<py::gil_scoped_release>());

  m.def(
      "measure_provider",
      [](double seconds) {
        ProviderProfile profile;
        {
          py::gil_scoped_release released;
          profile = measureProvider(seconds);
        }
        return profileDict(profile);
      },
      py::arg("seconds_per_kernel") = 0.25,
      "Measures this machine as a joining provider does: free memory, matmul and convolution GFLOP/s (and the GPU's).");
}
