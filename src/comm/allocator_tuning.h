#pragma once

namespace ravnest::detail {

/// Keeps freed heap memory mapped in this process, once. gRPC reads every payload into freshly allocated
/// buffers of up to a few MiB; with glibc's defaults those are returned to the kernel when freed and
/// page-fault on every 4 KiB when reused, which measured 5x slower transfers on a virtual machine. Raising the
/// mmap and trim thresholds keeps them mapped. Skipped when the user set any MALLOC_* tunable or
/// RAVNEST_KEEP_MALLOC_DEFAULTS=1. Thread-safe.
void tuneAllocatorForStreaming();

}  // namespace ravnest::detail
