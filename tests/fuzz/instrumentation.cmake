# Included from the top-level CMakeLists.txt when STSD_FUZZ is ON, before any library is
# defined: every target of a fuzz build is compiled with libFuzzer's coverage
# instrumentation and ASan+UBSan, so a fuzz target explores and checks the real
# libraries it links, not only its own source. The fuzz executables add
# -fsanitize=fuzzer to their link (tests/fuzz/CMakeLists.txt).
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR
    "STSD_FUZZ=ON needs clang (libFuzzer), but the C++ compiler is "
    "${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}). Configure with the `fuzz` preset "
    "(cmake --preset fuzz) or -DCMAKE_CXX_COMPILER=clang++ in a fresh build folder.")
endif()

# A clang without its libFuzzer runtime fails only at the first link; say so here.
include(CheckCXXSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer,address,undefined")
set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=fuzzer,address,undefined")
check_cxx_source_compiles([[
#include <cstddef>
#include <cstdint>
extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }
]] STSD_CLANG_HAS_LIBFUZZER)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
if(NOT STSD_CLANG_HAS_LIBFUZZER)
  message(FATAL_ERROR
    "STSD_FUZZ=ON: ${CMAKE_CXX_COMPILER} cannot link a libFuzzer target with ASan+UBSan "
    "(on Debian 12: apt-get install clang libclang-rt-14-dev). See "
    "${CMAKE_BINARY_DIR}/CMakeFiles/CMakeError.log for the failed link.")
endif()

# fuzzer-no-link: the coverage instrumentation without libFuzzer's main(), which only
# the fuzz executables link. Undefined behaviour aborts, so libFuzzer reports it as a
# crash instead of printing a warning and going on. clang 14 cannot emit the `function`
# check's prologue for a coroutine ("Cannot represent a difference across sections"),
# and the HTTP code is coroutines, so that one check is left out.
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
  -fno-sanitize=function -fno-omit-frame-pointer)
add_link_options(-fsanitize=address,undefined)

# Boost 1.74's Asio turns on co_await for clang only with the Coroutines TS
# (<experimental/coroutine>); clang 14 with libstdc++ has the C++20 ones, as gcc does.
add_compile_definitions(BOOST_ASIO_HAS_CO_AWAIT=1 BOOST_ASIO_HAS_STD_COROUTINE=1)
