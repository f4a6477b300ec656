#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/deepconv.node.
# Compiled directly with g++ from native/sources.json (node-gyp can only build into build/).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-asan
mkdir -p "$out"
node_inc=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
[ -f "$node_inc/node_api.h" ] || node_inc=${npm_config_nodedir:-/usr}/include/node
addon_inc=$(node -p "require('node-addon-api').include_dir")
mapfile -t sources < <(node -p "const s=require('./native/sources.json'); s.addon.concat(s.cpu).join('\n')")
flags=(-std=c++17 -O1 -g -fPIC -fopenmp -fno-math-errno -fno-trapping-math -fno-omit-frame-pointer
       -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED
       -I"$node_inc" -I"$addon_inc" -Inative/include -Inative)
objs=()
for src in "${sources[@]}"; do
  obj="$out/$(echo "${src%.*}" | tr / _).o"
  g++ "${flags[@]}" -c "$src" -o "$obj" &
  objs+=("$obj")
  # two compilers at a time on a two-core machine
  if (( ${#objs[@]} % 2 == 0 )); then wait; fi
done
wait
g++ -shared -fopenmp -fsanitize=address,undefined -o "$out/deepconv.node" "${objs[@]}"
echo "built $out/deepconv.node"
