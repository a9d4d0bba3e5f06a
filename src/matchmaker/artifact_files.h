#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ravnest::detail {

/// SHA-256 of a byte stream, fed piece by piece; hex() ends it.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void add(const void* data, size_t size);
  std::string hex();  // lowercase hex digest; the object cannot be fed afterwards

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// SHA-256 of a whole file. Throws ConfigError when it cannot be read.
std::string sha256OfFile(const std::string& path);

/// Checks that `path` is a relative path that stays inside its folder: no "..", no absolute path, no empty or
/// odd parts, at most 255 bytes. Throws InvalidArgumentError naming what is wrong.
void checkArtifactPath(const std::string& path);

/// Most bytes one artifact may have.
constexpr uint64_t kMaxArtifactBytes = uint64_t{16} << 30;
/// Bytes per chunk on the wire.
constexpr size_t kArtifactChunkBytes = size_t{1} << 20;

/// The deadline of one artifact's transfer: 10 minutes, plus what it needs at 1 Mbit/s beyond 10 MB.
inline double transferSeconds(uint64_t bytes) { return 600.0 + static_cast<double>(bytes) * 8 / 1e6; }

}  // namespace ravnest::detail
