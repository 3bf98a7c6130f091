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
# the leaderboard's stored reference rows for tiny@v1 against what a user's run makes: the clone
# made its own secret tiny world (a new install key), so its rows must be skipped as "another tiny
# world" and for no other reason (generator, version, arguments and evaluation items are checked
# before the world: a drift in any of them is "another version" or "other items" and fails here)
PYTHONPATH="$PWD/suite" "$venv/bin/selbench" submit runs/tiny --selector longest --name "fresh clone" --authors CI \
  --code https://github.com/selbench/selbench --out "$tmp/subs" > /dev/null
PYTHONPATH="$PWD/suite" "$venv/bin/selbench" leaderboard build --submissions "$tmp/subs" --out "$tmp/site" \
  --reference leaderboard/reference --verified "$tmp/none.json" 2>&1 | tee "$tmp/build.log" || true
if grep "not comparable" "$tmp/build.log" | grep -v -q "another tiny world"; then
  echo "fresh clone: the stored reference rows do not match the pool or items a run makes"; exit 1; fi
grep -q "another tiny world" "$tmp/build.log" || { echo "fresh clone: a new install's world was not told apart"; exit 1; }
test -s "$HOME/.cache/selbench/tinyworld/key" || { echo "fresh clone: no install key was made"; exit 1; }
# on the machine that made it (its key), the submission verifies: the selections re-run to the same ids
PYTHONPATH="$PWD/suite" "$venv/bin/selbench" submissions verify "$tmp/subs/fresh-clone" --record "$tmp/verified.json" \
  --out "$tmp/verify" 2>&1 | tail -n 3
grep -q '"status": "verified"' "$tmp/verified.json" || { echo "fresh clone: its own submission did not verify"; exit 1; }
echo "fresh clone quick start: ok in $((SECONDS - start)) s (cold caches, nothing beside the clone)"
