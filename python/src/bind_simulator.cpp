// Python bindings of the schedule simulator (ravnest._C.simulate_schedule).
#include "bindings.h"

#include <pybind11/stl.h>

#include <tuple>
#include <vector>

#include "ravnest/pipeline/schedule_simulator.h"

namespace py = pybind11;

void bindSimulator(py::module_& m) {
  m.def(
      "simulate_schedule",
      [](const std::vector<std::tuple<double, double, double, int64_t>>& stages, double latency, double bandwidth,
         int64_t microBatches, int64_t maxInFlight, const std::string& schedule) {
        ravnest::SimulationSetup setup;
        for (const auto& [forward, backwardInputs, backwardWeights, bytes] : stages) {
          setup.stages.push_back({forward, backwardInputs, backwardWeights, bytes});
        }
        setup.link = {latency, bandwidth};
        setup.microBatches = microBatches;
        setup.maxInFlight = maxInFlight;
        const auto kind = ravnest::parseSchedule(schedule);
        ravnest::SimulationResult result;
        {
          py::gil_scoped_release released;
          result = ravnest::simulateSchedule(setup, kind);
        }
        py::dict out;
        out["makespan"] = result.makespan;
        out["throughput"] = result.throughput;
        out["busy"] = result.busy;
        out["bubble_fractions"] = result.bubbleFractions;
        out["bubble_fraction"] = result.bubbleFraction;
        return out;
      },
      py::arg("stages"), py::arg("latency") = 0.0, py::arg("bandwidth") = 0.0, py::arg("micro_batches"),
      py::arg("max_in_flight") = 0, py::arg("schedule") = "1f1b",
      "Simulates a pipeline with the node's scheduling policy. `stages`: (F, B, W seconds, activation bytes) per "
      "stage; `latency` seconds and `bandwidth` bytes/s per link (0: infinite). Returns makespan (s), throughput "
      "(micro-batches/s), busy (s per stage), bubble_fractions (idle/makespan per stage) and bubble_fraction "
      "(their mean).");
}
