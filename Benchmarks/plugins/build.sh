#!/usr/bin/env bash
# Builds the example plugin (and, with --broken, the loader tests' deliberately broken ones)
# into .build/plugins/: cc -O3 -march=native -shared -fPIC against include/opbench_plugin.h.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OPBENCH_PLUGIN_DIR:-.build/plugins}
mkdir -p "$out"
cc=${CC:-cc}
flags=(-O3 -march=native -shared -fPIC -std=c11 -Wall -Wextra -Werror -Iinclude)
"$cc" "${flags[@]}" -o "$out/libopbench_example.so" Benchmarks/plugins/example.c -lpthread
echo "built $out/libopbench_example.so"
if [[ "${1:-}" == "--broken" ]]; then
  for defect in $(seq 0 16); do
    "$cc" "${flags[@]}" -Wno-unused-function -Wno-unused-const-variable -DDEFECT="$defect" -o "$out/libopbench_broken$defect.so" Benchmarks/plugins/broken.c -lm
  done
  echo "built $out/libopbench_broken{0..16}.so"
fi
