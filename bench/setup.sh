#!/usr/bin/env bash
# Copies the shared benchmark harness (loadgen.js, ceiling_server.js, run.sh, ...) into bench/.harness/
# and installs its one dependency (ws, pinned by package-lock.json) with `npm ci`.
#
#   bench/setup.sh            # SHARED_BENCH=/path/to/shared/bench overrides ../shared/bench
#
# Idempotent: files are re-copied every time (cheap), `npm ci` runs only when node_modules/ws is missing or
# package-lock.json changed since the last install.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$REPO/../shared/bench}
HARNESS=$BENCH/.harness

for f in loadgen.js ceiling_server.js run.sh summarize.py package.json package-lock.json; do
  [ -f "$SHARED_BENCH/$f" ] || { echo "setup.sh: $SHARED_BENCH/$f not found (set SHARED_BENCH)" >&2; exit 1; }
done
command -v node >/dev/null || { echo "setup.sh: node (20+) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup.sh: npm is required" >&2; exit 1; }

mkdir -p "$HARNESS"
# Top-level files only (never a node_modules/ or results/ the source may have); the shared copy is read-only,
# so set the modes explicitly rather than inheriting them.
find "$SHARED_BENCH" -maxdepth 1 -type f -print0 | while IFS= read -r -d '' src; do
  name=$(basename "$src")
  mode=0644; [ -x "$src" ] && mode=0755
  install -m "$mode" "$src" "$HARNESS/$name"
done

stamp=$HARNESS/.npm-ci.stamp
want=$(sha256sum "$HARNESS/package-lock.json" | cut -d' ' -f1)
if [ -d "$HARNESS/node_modules/ws" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup.sh: $HARNESS is up to date (ws installed)"
else
  (cd "$HARNESS" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
  echo "setup.sh: installed the harness into $HARNESS"
fi
node -e "require('$HARNESS/node_modules/ws'); console.log('setup.sh: ws ' + require('$HARNESS/node_modules/ws/package.json').version + ', node ' + process.version)"
