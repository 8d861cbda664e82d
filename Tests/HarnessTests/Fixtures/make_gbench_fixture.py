#!/usr/bin/env python3
"""Writes Google Benchmark JSON produced by Google Benchmark itself (its C++ JSON reporter, through
the `google-benchmark` PyPI package: pip install google-benchmark), for GoogleBenchmarkTests:

- gbench_repetitions.json: two benchmarks, 3 repetitions each (every repetition and the
  aggregates), one with a counter, one timed in microseconds;
- gbench_aggregates.json: the same with --benchmark_report_aggregates_only.

The tests read both back through OpBench and check that OpBench's own gbench output has every
field, with the same JSON type, that Google Benchmark writes.
"""
import os
import sys

import google_benchmark as benchmark

here = os.path.dirname(os.path.abspath(__file__))


@benchmark.register
@benchmark.option.unit(benchmark.kMicrosecond)
def BM_sum(state):
    data = list(range(2000))
    while state:
        sum(data)
    state.counters["items"] = 2000


@benchmark.register
def BM_sorted(state):
    data = list(range(500, 0, -1))
    while state:
        sorted(data)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else None
    if mode is None:
        import subprocess
        for name, extra in [("gbench_repetitions.json", []), ("gbench_aggregates.json", ["--benchmark_report_aggregates_only=true"])]:
            subprocess.run(
                [sys.executable, __file__, "run", "--benchmark_repetitions=3", "--benchmark_min_time=0.01s",
                 f"--benchmark_out={os.path.join(here, name)}", "--benchmark_out_format=json"] + extra,
                check=True, stdout=subprocess.DEVNULL)
    else:
        sys.argv = [sys.argv[0]] + sys.argv[2:]
        benchmark.main()
