#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ravnest::fuzz {

/// Feeds raw bytes to one of the library's decoders, through the entry points a node uses on what a peer or a
/// file hands it. Returns when the input decoded; throws a ravnest::Error when the library refused it, as it
/// must refuse malformed input. Anything else is a bug: another exception (a decoded result that breaks an
/// invariant throws std::logic_error), a crash, or a sanitizer report.
using DecodeFunction = void (*)(const uint8_t* data, size_t size);

struct Decoder {
  /// Names the libFuzzer target (ravnest_fuzz_<name>) and its corpus folder (tests/fuzz/corpus/<name>/).
  std::string name;
  DecodeFunction decode;
};

/// Every decoder a fuzz target exists for:
///   tensor_message        the first frame of a Transfer call and its payload, through readHeaderFrame and
///                         PayloadAssembler (byte 0 picks the size of the slices the rest arrives in);
///   wire_header           a serialized TensorHeader, converted and validated against the decode limits;
///   codec_none, codec_fp16, codec_bf16, codec_int8_blockwise
///                         one encoded tensor: dtype (1 byte), dim count (1 byte, mod 5), each dim (8 bytes,
///                         little-endian), for int8-blockwise the block size (4 bytes), then the payload;
///   node_json, routing_json
///                         the text of nodes/node_<id>.json and of a stage's routing.json;
///   ring_plan             the members `"ring_size", "rank", "rings"` of a node JSON (text spliced into a
///                         one-node node JSON), loaded, then laid out as RingAllReduce would.
const std::vector<Decoder>& decoders();

/// The decoder called `name`; throws std::invalid_argument for an unknown name.
const Decoder& decoderNamed(const std::string& name);

}  // namespace ravnest::fuzz
