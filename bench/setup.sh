#!/usr/bin/env bash
# Copies the shared benchmark harness (loadgen.js, ceiling_server.js, run.sh, ...) into bench/.harness/
# and installs its one dependency (ws, pinned by package-lock.json) with `npm ci`.  With ORIGINAL_DIR, also
# prepares a scratch copy of the original Node server (Varcade's game_rps/server) to run as a third server.
#
#   bench/setup.sh            # SHARED_BENCH=/path/to/shared/bench overrides ../shared/bench
#   ORIGINAL_DIR=/path/to/scratch/game_rps/server bench/setup.sh
#
# Idempotent: files are re-copied every time (cheap), `npm ci` runs only when node_modules/ws is missing or
# package-lock.json changed since the last install.
#
# ORIGINAL_DIR (a scratch copy: this edits it, never anything in this repository; the original is GPL-3.0 and
# none of it is kept here): drops the two placeholder packages its lock file names, `http` and `fs`
# (0.0.1-security: the registry no longer serves them and Node never loads them, its built-in modules win),
# from package.json and package-lock.json, runs `npm ci` there (again only when the lock file changed), and
# says whether index.js already points at 127.0.0.1 (bench/README.md, "The original server").
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
if [ -z "${SHARED_BENCH:-}" ]; then
  SHARED_BENCH=$REPO/../shared/bench
  # In a git worktree, ../shared is beside the main checkout, not beside the worktree.
  common=$(git -C "$REPO" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
  if [ ! -d "$SHARED_BENCH" ] && [ -n "$common" ] && [ -d "$(dirname "$common")/../shared/bench" ]; then
    SHARED_BENCH=$(dirname "$common")/../shared/bench
  fi
fi
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

# ------------------------------------------------------------------ the original server (optional)
[ -n "${ORIGINAL_DIR:-}" ] || exit 0
ORIGINAL_DIR=$(cd "$ORIGINAL_DIR" && pwd)
for f in index.js package.json package-lock.json; do
  [ -f "$ORIGINAL_DIR/$f" ] || { echo "setup.sh: $ORIGINAL_DIR/$f not found (ORIGINAL_DIR is game_rps/server)" >&2; exit 1; }
done
[ -f "$ORIGINAL_DIR/../game_engine/package.json" ] || {
  echo "setup.sh: $ORIGINAL_DIR/../game_engine not found (the server depends on file:../game_engine/)" >&2; exit 1; }
# Drop the placeholders (only entries at version 0.0.1-security) from the manifest and both lock file sections.
node - "$ORIGINAL_DIR" <<'JS'
const fs = require('fs'), path = require('path')
const dir = process.argv[2], PLACEHOLDERS = ['http', 'fs'], V = '0.0.1-security'
const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
if (pkg.name !== 'game_rps_server') { console.error(`setup.sh: ${dir}/package.json is ${pkg.name}, not game_rps_server`); process.exit(1) }
function edit (file, fn) {
  const p = path.join(dir, file), text = fs.readFileSync(p, 'utf8')
  const indent = (text.match(/\n( +)"/) || [null, '  '])[1]
  const obj = JSON.parse(text), dropped = fn(obj)
  if (dropped.length) {
    fs.writeFileSync(p, JSON.stringify(obj, null, indent) + '\n')
    console.log(`setup.sh: dropped ${dropped.join(', ')} from ${file}`)
  }
}
const drop = (deps, name, where, out) => {
  if (deps && deps[name] !== undefined && String(deps[name].version || deps[name]).endsWith(V)) { delete deps[name]; out.push(`${name} (${where})`) }
}
edit('package.json', (o) => { const out = []; for (const n of PLACEHOLDERS) drop(o.dependencies, n, 'dependencies', out); return out })
edit('package-lock.json', (o) => {
  const out = []
  for (const n of PLACEHOLDERS) {
    drop((o.packages || {})[''] && o.packages[''].dependencies, n, 'packages[""]', out)
    drop(o.packages, 'node_modules/' + n, 'packages', out)
    drop(o.dependencies, n, 'dependencies', out)
  }
  return out
})
JS
ostamp=$ORIGINAL_DIR/node_modules/.rpsa-bench-npm-ci.stamp
owant=$(sha256sum "$ORIGINAL_DIR/package-lock.json" | cut -d' ' -f1)
if [ -f "$ostamp" ] && [ "$(cat "$ostamp")" = "$owant" ]; then
  echo "setup.sh: $ORIGINAL_DIR is up to date (npm ci done)"
else
  (cd "$ORIGINAL_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$owant" >"$ostamp"
  echo "setup.sh: installed the original server's dependencies in $ORIGINAL_DIR"
fi
python3 "$BENCH/original.py" check "$ORIGINAL_DIR" --http-port "${HTTP_PORT:-8080}" --ws-port "${WS_PORT:-8085}" || echo "setup.sh: edit index.js as bench/README.md says (\"The original server\") before running it"
