#include "config_decoders.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "collectives/ring_layout.h"
#include "invariant.h"
#include "ravnest/config/node_config.h"
#include "ravnest/config/stage_routing.h"

namespace ravnest::fuzz {
namespace {

/// The loaders read files, as a node does: each input is written to one scratch file per process, removed at exit.
class ScratchFile {
 public:
  ScratchFile() {
    const char* folder = std::getenv("TMPDIR");
    path_ = std::string(folder != nullptr ? folder : "/tmp") + "/ravnest-fuzz-XXXXXX";
    const int descriptor = mkstemp(path_.data());
    expectInvariant(descriptor >= 0, "cannot create a scratch file for the config decoders");
    close(descriptor);
  }
  ~ScratchFile() { unlink(path_.c_str()); }

  const std::string& write(const std::string& contents) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << contents;
    return path_;
  }

 private:
  std::string path_;
};

const std::string& writeInput(const std::string& contents) {
  static ScratchFile file;
  return file.write(contents);
}

// Segments this small make every chunk of a fuzzed plan span several of them.
constexpr int64_t kSegmentElements = 3;

/// Lays out every ring as RingAllReduce does and checks that chunks and segments tile each ring exactly.
void layOutRings(const NodeConfig& config) {
  for (const RingMembership& ring : config.rings) {
    const detail::RingLayout layout(ring.numels, config.ringSize, kSegmentElements);
    int64_t covered = 0;
    for (int chunk = 0; chunk < config.ringSize; ++chunk) {
      const int64_t size = layout.chunkSize(chunk);
      const int64_t segments = layout.segmentCount(chunk);
      expectInvariant(size >= 0 && layout.chunkBegin(chunk) == covered, "ring chunks overlap or leave gaps");
      expectInvariant(segments >= 1, "a ring chunk has no segment");
      const int64_t last = segments - 1;
      expectInvariant(layout.segmentSize(chunk, last) >= 0 && layout.segmentSize(chunk, last) <= kSegmentElements &&
                          layout.segmentBegin(chunk, last) + layout.segmentSize(chunk, last) == covered + size,
                      "a ring chunk's segments do not end where the chunk ends");
      covered += size;
    }
    expectInvariant(covered == layout.numel, "ring chunks do not add up to the ring");
    for (int phase = 0; phase <= 1; ++phase) {
      for (int step = 0; step < config.ringSize - 1; ++step) {
        const int chunk = detail::sentChunk(config.rank, config.ringSize, phase, step);
        expectInvariant(chunk >= 0 && chunk < config.ringSize, "a ring step sends a chunk outside the ring");
      }
    }
  }
}

// A valid one-node cluster, open for the ring plan's members and closed after them.
constexpr const char* kRingPlanPrefix =
    R"({"node_id": 0, "local_host": "127.0.0.1", "local_port": 8080, "template_path": "stage_0/",)"
    R"( "cluster_length": 1, "is_root": true, "is_leaf": true, "stage_index": 0,)"
    R"( "cluster_nodes": [{"node_id": 0, "address": "127.0.0.1:8080"}], )";
constexpr const char* kRingPlanSuffix = "}";

std::string text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace

void decodeNodeJson(const uint8_t* data, size_t size) {
  loadNodeConfig(writeInput(text(data, size)));
}

void decodeRoutingJson(const uint8_t* data, size_t size) {
  loadStageRouting(writeInput(text(data, size)));
}

void decodeRingPlan(const uint8_t* data, size_t size) {
  layOutRings(loadNodeConfig(writeInput(kRingPlanPrefix + text(data, size) + kRingPlanSuffix)));
}

}  // namespace ravnest::fuzz
