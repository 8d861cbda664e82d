#!/usr/bin/env bash
# Style check run by CI: `swift format lint` with the checked-in .swift-format (whitespace
# and line breaking, 140 columns), and a hard 140-column limit that also covers the string
# literals swift-format cannot break. Fix with:
#   swift format --configuration .swift-format --in-place -r Sources Tests Benchmarks/Benchmarks
set -euo pipefail
cd "$(dirname "$0")/../.."
paths=(Sources Tests Benchmarks/Benchmarks Package.swift Benchmarks/Package.swift)
swift format lint --strict --configuration .swift-format -r "${paths[@]}"
long=$(git ls-files -- 'Sources/*.swift' 'Tests/*.swift' 'Benchmarks/*.swift' 'Package.swift' \
  | xargs python3 -c '
import sys
for path in sys.argv[1:]:
    for number, line in enumerate(open(path, encoding="utf-8"), 1):
        if len(line.rstrip("\n")) > 140:
            print(f"{path}:{number}: {len(line.rstrip())} columns (limit 140)")
')
if [ -n "$long" ]; then echo "$long"; exit 1; fi
echo "lint: clean"
