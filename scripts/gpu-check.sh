#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU, nvcc, CMake and Python (Node not needed):
# builds deepconv_cuda_test, runs it (every CUDA kernel against the CPU kernel, then W1-W4
# training-step timings), runs PyTorch's timing of the same workloads when python3 has torch,
# and prints one table. Exits non-zero when the parity test fails.
#
#   bash scripts/gpu-check.sh
#
# Environment: CUDA_ARCH (default 90: H100/H200), BUILD_DIR (build-cuda), JOBS (all cores),
# CIFAR (cifar-10-binary.tar.gz for the Node stage, default ../shared/data), NODE_STAGE=0 (skip it),
# STEPS (30 timed steps per workload), DEEPCONV_CUBLAS_ROOT (cuBLAS outside the toolkit),
# TORCH_ARGS (extra arguments for scripts/torch_cuda_ref.py, e.g. --tf32).
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${CUDA_ARCH:-90}
build=${BUILD_DIR:-build-cuda}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 4)}
steps=${STEPS:-30}

if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null 2>&1; then
  for c in /usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc; do
    if [ -x "$c" ]; then export CUDACXX=$c; break; fi
  done
fi

extra=()
if [ -n "${DEEPCONV_CUBLAS_ROOT:-}" ]; then extra+=("-DDEEPCONV_CUBLAS_ROOT=$DEEPCONV_CUBLAS_ROOT"); fi

echo "== build ($build, sm_$arch)"
start=$(date +%s)
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDEEPCONV_CUDA=ON -DDEEPCONV_NATIVE_TEST=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" ${extra[@]+"${extra[@]}"} >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" --target deepconv_cuda_test
echo "   built in $(( $(date +%s) - start )) s"

ours=$(mktemp)
theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT

echo "== deepconv_cuda_test"
set +e
"$build/deepconv_cuda_test" --steps "$steps" | tee "$ours"
rc=${PIPESTATUS[0]}
set -e

echo "== PyTorch reference"
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  # shellcheck disable=SC2086
  python3 scripts/torch_cuda_ref.py --steps "$steps" ${TORCH_ARGS:-} | tee "$theirs" || true
else
  echo "(python3 has no CUDA-enabled torch: skipping the reference)"
fi

echo
echo "== W1-W4 training steps, batch 128, fp32 (images/s, median step)"
awk '
  function field(line, key,   n, parts, i, kv) {
    n = split(line, parts, " ")
    for (i = 1; i <= n; i++) { split(parts[i], kv, "="); if (kv[1] == key) return kv[2] }
    return ""
  }
  FNR == 1 { file++ }
  /^BENCH / {
    w = field($0, "workload"); v = field($0, "images_per_s")
    if (file == 1) { ours[w] = v; order[++count] = w } else { theirs[w] = v }
  }
  END {
    printf "%-9s %15s %15s %8s\n", "workload", "deepconv img/s", "torch img/s", "ratio"
    for (i = 1; i <= count; i++) {
      w = order[i]
      t = (w in theirs) ? sprintf("%15.1f", theirs[w]) : sprintf("%15s", "-")
      r = (w in theirs && theirs[w] > 0) ? sprintf("%8.2f", ours[w] / theirs[w]) : sprintf("%8s", "-")
      printf "%-9s %15.1f %s %s\n", w, ours[w], t, r
    }
  }' "$ours" "$theirs"
echo "(ratio = deepconv / torch; the parity test exit status was $rc)"

# The Node side on the GPU, where this machine can: Node on PATH and node_modules present (the GPU
# machines we borrow usually have neither, and no registry to install from). It builds the CUDA
# addon, runs the device tests against it (with tolerances), and, with CIFAR-10 at hand, the
# headline run: DeepConvNet on the GPU for 60 s (goal: 71% validation, 70% test).
if [ "${NODE_STAGE:-1}" = 0 ]; then
  echo "(NODE_STAGE=0: the Node-side GPU run is skipped)"
elif command -v node >/dev/null 2>&1 && [ -d node_modules/cmake-js ] && [ -d node_modules/jest ]; then
  echo "== Node: npm run build:cuda, device tests on the GPU"
  CUDAARCHS=$arch node scripts/cmake-build.js cuda && npx tsc -p tsconfig.json || rc=1
  DEEPCONV_CUDA_TEST_ADDON=build/Release/deepconv.node npx jest test/cuda-device || rc=1
  if [ -n "${CIFAR:-}" ] || [ -f ../shared/data/cifar-10-binary.tar.gz ]; then
    echo "== Node: npx deepconv train --device cuda --time-limit 60"
    node bin/deepconv.js train --device cuda --time-limit 60 --quiet --out "$build/run" \
      ${CIFAR:+--data "$CIFAR"} | tail -3 || rc=1
  fi
else
  echo "(no Node.js with node_modules here: the Node-side GPU run is skipped)"
fi
exit "$rc"
