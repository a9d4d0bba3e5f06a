#pragma once

#include <string_view>

namespace ravnest::detail {

/// Compares in time that depends only on the lengths, so a secret (the job token) cannot be guessed byte by byte.
inline bool constantTimeEquals(std::string_view expected, std::string_view given) {
  if (given.size() != expected.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    difference |= static_cast<unsigned char>(expected[i] ^ given[i]);
  }
  return difference == 0;
}

}  // namespace ravnest::detail
