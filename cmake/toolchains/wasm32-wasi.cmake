# wasm32-wasi with Debian clang-19 + lld-19 + wasi-libc (+ libc++-19-dev-wasm32,
# libclang-rt-19-dev-wasm32). clang-19 emits the standard relaxed-SIMD opcodes
# (f32x4.relaxed_madd = 0xfd 0x105); clang-14 only had the pre-standard ones.
# CMake 3.25 has no WASI platform, so this is a Generic target; C++ exceptions
# are off (wasm32 libc++ has none without the exception-handling proposal).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR wasm32)
set(CMAKE_C_COMPILER clang-19)
set(CMAKE_CXX_COMPILER clang++-19)
set(CMAKE_C_COMPILER_TARGET wasm32-wasi)
set(CMAKE_CXX_COMPILER_TARGET wasm32-wasi)
set(CMAKE_CXX_FLAGS_INIT "-fno-exceptions")
set(CMAKE_EXECUTABLE_SUFFIX ".wasm")
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
