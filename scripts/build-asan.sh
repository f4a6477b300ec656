#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/deepconv.node,
# and its CUDA-emulator variant into build-asan/deepconv-emulator.node.
# Compiled directly with g++ from native/sources.json (node-gyp can only build into build/).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-asan
mkdir -p "$out"
node_inc=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
[ -f "$node_inc/node_api.h" ] || node_inc=${npm_config_nodedir:-/usr}/include/node
addon_inc=$(node -p "require('node-addon-api').include_dir")
flags=(-std=c++17 -O1 -g -fPIC -fopenmp -fno-math-errno -fno-trapping-math -fno-omit-frame-pointer
       -fsanitize=address,undefined -fno-sanitize-recover=undefined
       $(node -p "require('./native/sources.json').defines.map((d) => '-D' + d).join(' ')")
       -I"$node_inc" -I"$addon_inc" -Inative/include -Inative)
list() { node -p "require('./native/sources.json').$1.join('\n')"; }
mapfile -t cpu < <(list cpu)
mapfile -t addon < <(list addon)
mapfile -t emulator < <(list cudaEmulator)

# compile <suffix> <extra flags...> -- <sources...>: objects in $out, two compilers at a time (a
# two-core machine); their paths are appended to the array objs<suffix>.
objs_cpu=() objs_plain=() objs_emu=()
compile() {
  local suffix=$1; shift
  local -n into="objs$suffix"
  local extra=()
  while [ "$1" != "--" ]; do extra+=("$1"); shift; done
  shift
  local n=0
  for src in "$@"; do
    local obj="$out/$(echo "${src%.*}" | tr / _)$suffix.o"
    g++ "${flags[@]}" ${extra[@]+"${extra[@]}"} -c "$src" -o "$obj" &
    into+=("$obj")
    n=$((n + 1))
    if (( n % 2 == 0 )); then wait; fi
  done
  wait
}
compile _cpu -- "${cpu[@]}"
compile _plain -- "${addon[@]}"
# The addon against the host CUDA emulator (test/cuda-device.test.ts): the device path under the
# sanitizers too.
compile _emu -DDEEPCONV_WITH_CUDA -DDEEPCONV_CUDA_EMULATOR -- "${addon[@]}" "${emulator[@]}"
g++ -shared -fopenmp -fsanitize=address,undefined -o "$out/deepconv.node" "${objs_cpu[@]}" "${objs_plain[@]}"
g++ -shared -fopenmp -fsanitize=address,undefined -o "$out/deepconv-emulator.node" "${objs_cpu[@]}" "${objs_emu[@]}"
echo "built $out/deepconv.node and $out/deepconv-emulator.node"
