"""Fair single-process baselines for the benchmarks.

Every ravnest process tunes glibc's malloc when it starts a server or client (src/comm/allocator_tuning.cpp):
large freed blocks stay mapped instead of going back to the kernel, so the next step's tensors do not page-fault
again. On a virtualised machine where page faults are expensive that alone made single-process ResNet-18
training 4.5x faster (78 against 352 samples/s, one torch thread). A baseline must get the same chance: the
benchmarks time plain PyTorch under both settings and keep the faster.
"""

# What tuneAllocatorForStreaming() (src/comm/allocator_tuning.cpp) sets with mallopt(), as the glibc environment
# variables of the same settings. Kept in step with it by tests/python/test_baselines.py.
NODE_MALLOC_ENVIRONMENT = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    "MALLOC_TOP_PAD_": str(64 << 20),
}

ALLOCATOR_SETTINGS = {"glibc defaults": {}, "ravnest's malloc settings": NODE_MALLOC_ENVIRONMENT}
