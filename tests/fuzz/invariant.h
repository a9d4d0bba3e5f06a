#pragma once

#include <stdexcept>
#include <string>

namespace ravnest::fuzz {

/// Fails a fuzz input whose decoded result is wrong although the decoder accepted it. std::logic_error, not a
/// ravnest::Error, so that neither the fuzz target nor the corpus test mistakes it for a proper refusal.
inline void expectInvariant(bool holds, const std::string& what) {
  if (!holds) throw std::logic_error("a decoder accepted an input but its result is wrong: " + what);
}

}  // namespace ravnest::fuzz
