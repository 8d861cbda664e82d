#!/usr/bin/env bash
# Appends this commit's quick-suite run to results/history/<kind>/<date>-<commit>.json (a clean
# tree only: a dirty one has no commit to name; <kind> is this machine's, `opbench machine`'s
# `kind` line: steps are only looked for among runs of one kind) and redraws
# results/history-<kind>.html and .md.
#   history.sh                 this commit
#   history.sh --backfill REV… earlier commits, each built and run in a temporary worktree
# `opbench history results/history` finds the steps (docs/cli.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
swift build -c release >/dev/null
kind=$(.build/release/opbench --tuning none machine | awk '$1 == "kind" { print $2 }')
dir=results/history/$kind
mkdir -p "$dir"
run_at() {  # run_at DIR: build DIR's opbench and append its quick-suite run
  (cd "$1" && swift build -c release >/dev/null && commit=$(git rev-parse --short=12 HEAD) \
    && stamp=$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S) \
    && .build/release/opbench bench --suite quick --output "$root/$dir/$stamp-$commit.json" >/dev/null \
    && echo "appended $dir/$stamp-$commit.json")
}
if [ "${1:-}" = "--backfill" ]; then
  shift
  for rev in "$@"; do
    dir=$(mktemp -d)
    git worktree add -q --detach "$dir" "$rev"
    run_at "$dir" || echo "note: $rev did not build or run; skipped" >&2
    git worktree remove --force "$dir"
  done
else
  if [ -n "$(git status --porcelain --untracked-files=no -- . ':(exclude)results')" ]; then
    echo "history.sh: the tree has uncommitted changes; commit first (a history point names its commit)" >&2
    exit 1
  fi
  bash .ci/setup
  run_at .
fi
.build/release/opbench history "$dir" --html "results/history-$kind.html" --md "results/history-$kind.md" >/dev/null
echo "wrote results/history-$kind.html, results/history-$kind.md"
