#pragma once

#include <cstddef>
#include <cstdint>

namespace ravnest::fuzz {

// The node_data/ file decoders; decoders.h describes each input format.
void decodeNodeJson(const uint8_t* data, size_t size);
void decodeRoutingJson(const uint8_t* data, size_t size);
void decodeRingPlan(const uint8_t* data, size_t size);

}  // namespace ravnest::fuzz
