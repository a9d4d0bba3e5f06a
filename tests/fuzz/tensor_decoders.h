#pragma once

#include <cstddef>
#include <cstdint>

namespace ravnest::fuzz {

// The wire decoders; decoders.h describes each input format.
void decodeTensorMessage(const uint8_t* data, size_t size);
void decodeWireHeader(const uint8_t* data, size_t size);
void decodeNoneTensor(const uint8_t* data, size_t size);
void decodeFp16Tensor(const uint8_t* data, size_t size);
void decodeBf16Tensor(const uint8_t* data, size_t size);
void decodeInt8BlockwiseTensor(const uint8_t* data, size_t size);

}  // namespace ravnest::fuzz
