#!/usr/bin/env bash
# Runs the jest suite against the sanitizer builds of the addon (scripts/build-asan.sh): the
# default one, and the CUDA-emulator one for the device-path tests.
# Node itself is not instrumented, so the ASan runtime is preloaded. Leak checking is off:
# V8 keeps allocations alive until exit, which LeakSanitizer would report as leaks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-asan.sh  # always: a stale sanitizer build would test old code
export LD_PRELOAD="$(g++ -print-file-name=libasan.so):$(g++ -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export DEEPCONV_ADDON=build-asan/deepconv.node
export DEEPCONV_CUDA_TEST_ADDON=build-asan/deepconv-emulator.node  # test/cuda-device.test.ts
exec npx jest --runInBand "$@"
