#!/usr/bin/env bash
# Checks the built CPU kernels for wide-ISA code under a name other files share. Kernels compiled
# for AVX2 / AVX-512 (native/cpu/isa_passes.h, gemm_kernel_<isa>.cc) must keep their wide code in
# functions of their own: in namespaces avx2 / avx512 or internal ones. A shared inline function
# (a library template, say) compiled there would be one COMDAT copy among several, and the
# linker may keep the wide one for every caller: an illegal instruction on a CPU without it.
#   bash scripts/check-isa-leaks.sh [object files...]   (default: build/Release's native/cpu objects)
# Prints each offending function and exits 1; exits 0 when there is none.
set -euo pipefail
objs=("$@")
if [[ ${#objs[@]} -eq 0 ]]; then
  shopt -s nullglob
  objs=("$(dirname "$0")"/../build/Release/obj.target/deepconv/native/cpu/*.o)
fi
if [[ ${#objs[@]} -eq 0 ]]; then
  echo "check-isa-leaks: no object files (build the addon from source first)" >&2
  exit 2
fi
bad=$(for o in "${objs[@]}"; do
  objdump -d --no-show-raw-insn -C "$o" | awk -v obj="$o" '
    /^[0-9a-f]+ <.*>:$/ { name = $0; sub(/^[0-9a-f]+ </, "", name); sub(/>:$/, "", name); next }
    /[yz]mm[0-9]/ { if (name !~ /::avx512::|::avx2::|\(anonymous namespace\)/) print obj ": " name }'
done | sort -u)
if [[ -n "$bad" ]]; then
  echo "check-isa-leaks: wide-ISA code under a shared name:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "check-isa-leaks: ${#objs[@]} objects, no wide-ISA code outside the ISA namespaces"
