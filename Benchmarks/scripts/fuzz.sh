#!/usr/bin/env bash
# Fuzzes every parser of untrusted input with libFuzzer and AddressSanitizer: .npy,
# safetensors, GGUF, shape strings, model plans and results files. Each target runs for
# SECONDS (default 30) from its seed corpus in Tests/Fuzz/<target>/; new inputs that
# found new paths go to .build-fuzz/corpus/<target>/. Any crash, leak or hang fails the
# script and leaves the input as .build-fuzz/crash-*. Run longer: fuzz.sh 600 [target…]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npy safetensors gguf shape plan results)
OPBENCH_FUZZ_BUILD=1 swift build -c release --scratch-path .build-fuzz --product OpBenchFuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld >/dev/null
rm -f .build-fuzz/crash-* .build-fuzz/leak-* .build-fuzz/timeout-* .build-fuzz/oom-*
bin=.build-fuzz/release/OpBenchFuzz
for t in "${targets[@]}"; do
  mkdir -p ".build-fuzz/corpus/$t"
  echo "== fuzz $t (${seconds} s)"
  SWIFT_BACKTRACE=enable=no OPBENCH_FUZZ=$t "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
    -artifact_prefix=.build-fuzz/ -print_final_stats=1 ".build-fuzz/corpus/$t" "Tests/Fuzz/$t" 2>&1 \
    | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|INFO: seed corpus)" || true
  if find .build-fuzz -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | grep -q .; then
    echo "fuzz $t: a finding, input kept in .build-fuzz/"; exit 1
  fi
done
echo "fuzz: no findings"
