#!/usr/bin/env bash
# Run the README's quick start (`make run`) in a fresh `git clone` of this checkout, in a
# temporary folder with nothing beside it, every SELBENCH_* variable unset and a new HOME, with
# the already-built environment VENV (default .venv). Fails when any cell fails.
# Usage: scripts/ci_fresh_clone_quickstart.sh [VENV]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(cd "${1:-$repo/.venv}" && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/selbench-solo.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
git clone -q "$repo" "$tmp/solo/main"
test ! -e "$tmp/solo/shared"  # nothing beside it
for var in $(env | sed -n 's/^\(SELBENCH_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$var"; done
mkdir -p "$tmp/home"
export HOME="$tmp/home"
cd "$tmp/solo/main"
start=$SECONDS
# the clone's code runs (PYTHONPATH beats the editable install of the original checkout); the
# stamp keeps make from reinstalling the environment that was just built
touch -r "$venv/.selbench-installed" pyproject.toml requirements/ci.txt
PYTHONPATH="$PWD/suite" make run VENV="$venv" ARGS="--out runs"
test -s runs/tiny/results.jsonl && test -s runs/tiny/site/index.html
if grep -q '"status": "failed"' runs/tiny/cells.jsonl; then echo "fresh clone: a cell failed"; exit 1; fi
echo "fresh clone quick start: ok in $((SECONDS - start)) s (cold caches, nothing beside the clone)"
