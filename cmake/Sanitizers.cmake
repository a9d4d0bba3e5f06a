# Instrumented builds (scripts/sanitize.sh, scripts/fuzz.sh), never the default one.
#   RAVNEST_SANITIZE: comma-separated -fsanitize= list, e.g. "address,undefined" or "thread".
#   RAVNEST_FUZZ:     also instrument for libFuzzer's coverage and build the targets in tests/fuzz (clang only).
# The flags apply to every target of the project, generated protobuf code included: a sanitizer only sees what
# was compiled with it, and ASan and TSan must agree between a library and the executable that loads it.
set(RAVNEST_SANITIZE "" CACHE STRING "Sanitizers to build with (comma-separated -fsanitize= list)")
option(RAVNEST_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only)" OFF)

if(RAVNEST_FUZZ AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "RAVNEST_FUZZ needs clang (libFuzzer); configure with -DCMAKE_CXX_COMPILER=clang++")
endif()

if(RAVNEST_SANITIZE)
  add_compile_options(-fsanitize=${RAVNEST_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${RAVNEST_SANITIZE})
endif()
if(RAVNEST_FUZZ)
  # Coverage feedback for the fuzzers from the library's code; the fuzz executables add -fsanitize=fuzzer.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
