#!/usr/bin/env bash
# The kernel suites (every test whose numbers go through a CPU kernel) once more under each ISA
# path this CPU runs besides the best one, which `npm test` already used: DEEPCONV_ISA=avx2 and
# DEEPCONV_ISA=generic on an AVX-512 machine, generic alone on an AVX2 one.
#   bash scripts/test-isa-paths.sh [--json-dir DIR]   (DIR: one jest JSON report per path, for .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
json_dir=""
if [[ "${1:-}" == "--json-dir" ]]; then json_dir=$2; fi

suites=(arena batchnorm conv dropout gemm gradcheck linear loss models optim pool relu sandwich solver)
files=()
for s in "${suites[@]}"; do files+=("test/$s.test.ts"); done

paths=$(node -e "const i=require('./dist/lib').isaInfo(); console.log(i.available.filter((p) => p !== i.best).join(' '))")
status=0
for p in $paths; do
  echo "== kernel suites under DEEPCONV_ISA=$p"
  report=()
  if [[ -n "$json_dir" ]]; then report=(--json --outputFile="$json_dir/isa-$p.json"); fi
  DEEPCONV_ISA=$p npx jest "${files[@]}" "${report[@]}" || status=$?
done
exit $status
