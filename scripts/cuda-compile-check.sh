#!/usr/bin/env bash
# Compiles every CUDA source (the kernels and the parity test program) to object files, so a
# compile break shows on machines without a GPU (CI); then compiles the N-API bindings as a CUDA
# build does and checks that every deepconv::cuda symbol they need is defined by those objects (the
# link, short of cuBLAS); then builds the addon with CUDA through CMake and cmake-js, as `npm run
# build:cuda` does, against a cuBLAS link stub where the toolkit has none, and loads it in Node.
# Runs nothing on a GPU.
#
# cuBLAS headers: the CUDA toolkit's, else DEEPCONV_CUBLAS_ROOT/include, else Debian's
# nvidia-cuda-dev package (non-free) is downloaded once with apt into a cache folder and only
# its cublas*.h headers are kept.
set -euo pipefail
cd "$(dirname "$0")/.."

nvcc=${CUDACXX:-$(command -v nvcc || true)}
if [ -z "$nvcc" ]; then
  for c in /usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc; do
    if [ -x "$c" ]; then nvcc=$c; break; fi
  done
fi
if [ -z "$nvcc" ]; then
  echo "cuda-compile-check: no nvcc on this machine; skipped"
  exit 0
fi
toolkit_inc="$(dirname "$(dirname "$nvcc")")/include"

cublas_inc=""
if [ -f "$toolkit_inc/cublas_v2.h" ]; then
  cublas_inc=$toolkit_inc
elif [ -n "${DEEPCONV_CUBLAS_ROOT:-}" ] && [ -f "$DEEPCONV_CUBLAS_ROOT/include/cublas_v2.h" ]; then
  cublas_inc=$DEEPCONV_CUBLAS_ROOT/include
else
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/deepconv/cublas-headers
  if [ ! -f "$cache/cublas_v2.h" ]; then
    echo "cuda-compile-check: fetching cuBLAS headers (Debian non-free nvidia-cuda-dev) into $cache"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/lists/partial" "$work/archives/partial" "$cache"
    echo "deb http://deb.debian.org/debian bookworm non-free" >"$work/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
              -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives"
              -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
    # A failed download is not a compile break: say so and skip, rather than fail the run.
    if ! { apt-get "${apt_opts[@]}" update -qq &&
           (cd "$work" && apt-get "${apt_opts[@]}" download nvidia-cuda-dev >/dev/null) &&
           dpkg-deb --fsys-tarfile "$work"/nvidia-cuda-dev_*.deb | tar -x -C "$work" --wildcards '*/cublas*.h'; }; then
      echo "cuda-compile-check: could not fetch the cuBLAS headers from Debian; CUDA compile check SKIPPED"
      exit 0
    fi
    find "$work" -name 'cublas*.h' -exec cp {} "$cache/" \;
  fi
  cublas_inc=$cache
fi

mapfile -t sources < <(node -e "const s=require('./native/sources.json'); console.log(s.cuda.concat(s.cudaTest).join('\n'))")
out=$(mktemp -d)
echo "cuda-compile-check: $("$nvcc" --version | tail -1); cuBLAS headers from $cublas_inc"
status=0
pids=()
for src in "${sources[@]}"; do
  "$nvcc" -std=c++17 -arch=sm_90 -lineinfo -Xcompiler=-Wall -Werror all-warnings -c "$src" \
    -Inative/include -Inative -I"$cublas_inc" -o "$out/$(echo "$src" | tr / _).o" &
  pids+=($!)
  if (( ${#pids[@]} == 2 )); then
    for p in "${pids[@]}"; do wait "$p" || status=1; done
    pids=()
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
trap 'rm -rf "$out"' EXIT
if (( status )); then
  echo "cuda-compile-check: FAILED"
  exit 1
fi
echo "cuda-compile-check: ${#sources[@]} CUDA sources compile"

# The link, short of cuBLAS: the addon's sources compiled as a CUDA build compiles them
# (DEEPCONV_WITH_CUDA) must need no deepconv::cuda symbol that the CUDA objects do not define.
node_inc=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
[ -f "$node_inc/node_api.h" ] || node_inc=${npm_config_nodedir:-/usr}/include/node
napi_inc=$(node -p "require('node-addon-api').include_dir" 2>/dev/null || true)
if [ ! -f "$node_inc/node_api.h" ] || [ -z "$napi_inc" ]; then
  echo "cuda-compile-check: no Node headers or node-addon-api here; the binding symbol check is skipped"
  exit 0
fi
mapfile -t addon < <(node -e "console.log(require('./native/sources.json').addon.join('\n'))")
napi_defines=$(node -p "require('./native/sources.json').defines.map((d) => '-D' + d).join(' ')")
bind=$out/bindings
mkdir -p "$bind"
for src in "${addon[@]}"; do
  g++ -std=c++17 -fPIC -fopenmp -Wall -Werror -DDEEPCONV_WITH_CUDA $napi_defines -I"$node_inc" -I"$napi_inc" -Inative/include -Inative \
    -c "$src" -o "$bind/$(echo "$src" | tr / _).o" || status=1
done
if (( status )); then
  echo "cuda-compile-check: the bindings do not compile with DEEPCONV_WITH_CUDA: FAILED"
  exit 1
fi
# nm lines are "[address] type name": keep the names that are deepconv::cuda's own.
names() { nm -C "$@" | sed -E 's/^[0-9a-f]* *[A-Za-z] //' | grep '^deepconv::cuda::' | sort -u; }
needed=$(names --undefined-only "$bind"/*.o)
defined=$(names --defined-only "$out"/native_cuda_*.o)
missing=$(comm -23 <(echo "$needed") <(echo "$defined"))
if [ -n "$missing" ]; then
  echo "cuda-compile-check: the bindings need CUDA symbols that native/cuda does not define: FAILED"
  echo "$missing"
  exit 1
fi
echo "cuda-compile-check: the bindings (${#addon[@]} files, DEEPCONV_WITH_CUDA) need $(echo "$needed" | grep -c .) deepconv::cuda symbols; native/cuda defines them all"

# The whole CUDA build as `npm run build:cuda` runs it (CMake, cmake-js, nvcc, the link), into its
# own folder, then loaded by Node. Without the toolkit's cuBLAS, it links against a stub library
# whose every call fails (enough to link and load; nothing runs on a GPU here).
if [ ! -d node_modules/cmake-js ] || [ ! -f dist/lib/index.js ]; then
  echo "cuda-compile-check: no node_modules/cmake-js or dist/ (npm install first); the CMake build check is skipped"
  exit 0
fi
root=()
if [ "$cublas_inc" != "$toolkit_inc" ]; then
  stub=$out/cublas-stub
  mkdir -p "$stub/lib"
  ln -s "$cublas_inc" "$stub/include"
  cat >"$stub/stub.c" <<'STUB'
/* cuBLAS link stub for CI (no GPU): every call returns CUBLAS_STATUS_NOT_INITIALIZED. */
int cublasCreate_v2(void* h) { (void)h; return 1; }
int cublasDestroy_v2(void* h) { (void)h; return 1; }
const char* cublasGetStatusString(int s) { (void)s; return "cuBLAS link stub"; }
int cublasSetMathMode(void* h, int m) { (void)h; (void)m; return 1; }
int cublasSetStream_v2(void* h, void* s) { (void)h; (void)s; return 1; }
int cublasSetWorkspace_v2(void* h, void* w, unsigned long n) { (void)h; (void)w; (void)n; return 1; }
int cublasSgemm_v2(void) { return 1; }
int cublasSgemmStridedBatched(void) { return 1; }
STUB
  gcc -shared -fPIC -o "$stub/lib/libcublas.so" "$stub/stub.c"
  root=(--CDDEEPCONV_CUBLAS_ROOT="$stub")
  export LD_LIBRARY_PATH="$stub/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
node_dir=$(dirname "$(dirname "$node_inc")")
build_log=$out/cmake-build.log
if ! npm_config_nodedir=$node_dir CUDACXX=$nvcc node node_modules/cmake-js/bin/cmake-js compile --out "$out/cmake" \
    --CDDEEPCONV_CUDA=ON --CDCMAKE_CUDA_ARCHITECTURES=90 ${root[@]+"${root[@]}"} --parallel 2 >"$build_log" 2>&1; then
  tail -40 "$build_log"
  echo "cuda-compile-check: the CMake CUDA build of the addon: FAILED"
  exit 1
fi
if ! DEEPCONV_ADDON=$out/cmake/Release/deepconv.node node -e '
  const d = require("./dist/lib"), info = d.buildInfo();
  if (!info.cuda || info.cudaEmulator) throw new Error("buildInfo says cuda " + info.cuda + ", emulator " + info.cudaEmulator);
  console.log("cuda-compile-check: the CMake CUDA build links and loads: buildInfo().cuda true, " + d.cudaDeviceCount() + " device(s) here");
'; then
  echo "cuda-compile-check: the CMake CUDA build does not load: FAILED"
  exit 1
fi
