#!/usr/bin/env bash
# Compiles every CUDA source (the kernels and the parity test program) to object files, so a
# compile break shows on machines without a GPU (CI); then compiles the N-API bindings as a CUDA
# build does and checks that every deepconv::cuda symbol they need is defined by those objects (the
# link, short of cuBLAS, which this toolkit lacks). Runs nothing.
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
bind=$out/bindings
mkdir -p "$bind"
for src in "${addon[@]}"; do
  g++ -std=c++17 -fPIC -fopenmp -Wall -Werror -DDEEPCONV_WITH_CUDA -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS \
    -DNODE_ADDON_API_DISABLE_DEPRECATED -I"$node_inc" -I"$napi_inc" -Inative/include -Inative \
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
