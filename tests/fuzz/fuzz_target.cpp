// The libFuzzer entry point. CMake compiles this file once per decoder, with RAVNEST_FUZZ_DECODER naming it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "decoders.h"
#include "ravnest/common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ravnest::fuzz::DecodeFunction decode = ravnest::fuzz::decoderNamed(RAVNEST_FUZZ_DECODER).decode;
  try {
    decode(data, size);
  } catch (const ravnest::Error&) {
    // Refused with a typed error: what malformed input must get.
  } catch (const std::exception& error) {
    // A finding: say what was thrown, then crash so that libFuzzer keeps the input.
    std::fprintf(stderr, "%s: not a ravnest::Error: %s\n", RAVNEST_FUZZ_DECODER, error.what());
    std::abort();
  }
  return 0;
}
