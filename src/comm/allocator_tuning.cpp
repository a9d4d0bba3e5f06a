#include "comm/allocator_tuning.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

extern char** environ;

namespace ravnest::detail {
namespace {

constexpr int kMmapThresholdBytes = 32 << 20;  // glibc's upper bound for this setting
constexpr int kTrimThresholdBytes = 1 << 30;
constexpr int kTopPadBytes = 64 << 20;

bool userChoseAllocatorSettings() {
  if (const char* keep = std::getenv("RAVNEST_KEEP_MALLOC_DEFAULTS"); keep != nullptr && std::strcmp(keep, "1") == 0) {
    return true;
  }
  if (std::getenv("GLIBC_TUNABLES") != nullptr) return true;
  for (char** variable = environ; *variable != nullptr; ++variable) {
    if (std::strncmp(*variable, "MALLOC_", 7) == 0) return true;
  }
  return false;
}

}  // namespace

void tuneAllocatorForStreaming() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (userChoseAllocatorSettings()) return;
    mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes);
    mallopt(M_TRIM_THRESHOLD, kTrimThresholdBytes);
    mallopt(M_TOP_PAD, kTopPadBytes);
  });
}

}  // namespace ravnest::detail
