#!/usr/bin/env bash
# One benchmark scenario: the ceiling server, the original (with ORIGINAL_DIR) and rpsa back to back per rep,
# each fresh, through the shared harness's run.sh.
#
#   bench/scenario.sh NAME [REPS]   NAME: steady2000 | steady3000 | steady4000 | steady6000 | steady8000 | steadyN
#                                         | idle | http | launch
#
# Results: bench/results/NAME-<UTC timestamp>/ (ceiling.jsonl, original.jsonl, rpsa.jsonl or launch.jsonl,
# scenario.json, logs/), then bench/compare.py prints the medians, the ratios and the targets.  See bench/README.md.
#
# Environment (defaults in brackets):
#   DURATION=full|short [full]   short: smaller settle/measure (and COUNT) for smoke runs; never for figures
#   GAMES       steadyN: N; idle: 2000; http: 64 (HTTP workers = keep-alive connections)
#   RAMP [200]  games started per second      SETTLE / MEASURE (seconds; defaults per scenario and DURATION)
#   IDLE_STEPS [2]    SERVERS ["ceiling rpsa", "ceiling original rpsa" with ORIGINAL_DIR]
#   PROGRESS [0] (loadgen progress line every N s)
#   ORIGINAL_DIR  a prepared scratch copy of the original's game_rps/server (bench/setup.sh, README): runs it too,
#                 with a redis-server (no persistence, on GEN_CPU) on the port its index.js names
#   HTTP_PORT [8080]  WS_PORT [8085]  SERVER_CPU [0]  GEN_CPU [1]
#   RPSA_ARGS   extra daemon options      HTTP_MAX_GAMES [1000000: http only, --max-games; empty: the default]
#   CEILING_ARGS [--rounds 3 --exchanges 10]
#   TWISTD      twistd to run [the one beside python3's real interpreter, so no pyenv shim wraps the PID]
#   RESULTS_ROOT [bench/results]
#   PROFILE=1   steady/http: py-spy records rpsa over the measurement window of each rep (profile/, then
#               bench/profile_summary.py); PROFILE_RATE [100] samples/s; PY_SPY [beside PYTHON, or on PATH]
#   launch only: COUNT [50; short 10]  PAUSE [0.3]  WARM [4]  MATCH_PORTS [9000-9099]  MAX_MATCHES [100]
#                CONCURRENCY [1]  API_KEY (if set: written to a key file, passed with --api-key-file)
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
HARNESS=$BENCH/.harness

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
NAME=${1:-}; [ -n "$NAME" ] || usage
REPS=${2:-3}
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || { echo "scenario.sh: REPS must be a positive integer" >&2; exit 2; }
DURATION=${DURATION:-full}
case "$DURATION" in full|short) ;; *) echo "scenario.sh: DURATION is full or short" >&2; exit 2 ;; esac
short() { [ "$DURATION" = short ]; }

[ -d "$HARNESS/node_modules/ws" ] || "$BENCH/setup.sh"

PYTHON=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
if [ -z "${TWISTD:-}" ]; then
  TWISTD=$(dirname "$PYTHON")/twistd
  [ -x "$TWISTD" ] || TWISTD=$(command -v twistd)
fi
export HTTP_PORT=${HTTP_PORT:-8080} WS_PORT=${WS_PORT:-8085} SERVER_CPU=${SERVER_CPU:-0} GEN_CPU=${GEN_CPU:-1}
export REDIS_PORT=   # rpsa and the ceiling need no redis
CEILING_CMD="node $HARNESS/ceiling_server.js --http-port $HTTP_PORT --ws-port $WS_PORT ${CEILING_ARGS:---rounds 3 --exchanges 10}"
if [ -n "${ORIGINAL_DIR:-}" ]; then SERVERS=${SERVERS:-ceiling original rpsa}; else SERVERS=${SERVERS:-ceiling rpsa}; fi
PROGRESS=${PROGRESS:-0}
RAMP=${RAMP:-200}

case "$NAME" in
  steady[0-9]*)
    [[ "$NAME" =~ ^steady([0-9]+)$ ]] || usage
    GAMES=${GAMES:-${BASH_REMATCH[1]}}
    if short; then SETTLE=${SETTLE:-5}; MEASURE=${MEASURE:-10}; else SETTLE=${SETTLE:-15}; MEASURE=${MEASURE:-60}; fi
    LOADGEN_ARGS="--mode steady --games $GAMES --ramp $RAMP --settle $SETTLE --measure $MEASURE --progress $PROGRESS" ;;
  idle)
    GAMES=${GAMES:-2000}
    if short; then SETTLE=${SETTLE:-3}; else SETTLE=${SETTLE:-10}; fi
    LOADGEN_ARGS="--mode idle --games $GAMES --ramp $RAMP --idle-steps ${IDLE_STEPS:-2} --settle $SETTLE --progress $PROGRESS" ;;
  http)
    GAMES=${GAMES:-64}
    if short; then SETTLE=${SETTLE:-2}; MEASURE=${MEASURE:-8}; else SETTLE=${SETTLE:-5}; MEASURE=${MEASURE:-20}; fi
    LOADGEN_ARGS="--mode http --games $GAMES --settle $SETTLE --measure $MEASURE --progress $PROGRESS" ;;
  launch) LOADGEN_ARGS="" ;;
  *) usage ;;
esac
# The http scenario never connects its games, so they pile up (about 25 000 in 25 s at 1000 pairs/s) until
# --join-timeout (60 s) removes them: the daemon's default --max-games 10000 would turn the rest into 503s and
# measure the cap, not the throughput (the original server and the ceiling have no cap).  HTTP_MAX_GAMES= keeps it.
SCENARIO_ARGS=""
if [ "$NAME" = http ] && [ -n "${HTTP_MAX_GAMES-1000000}" ]; then SCENARIO_ARGS="--max-games ${HTTP_MAX_GAMES-1000000}"; fi
RPSA_CMD="$TWISTD -n --pidfile= rpsa --listen tcp:$HTTP_PORT:interface=127.0.0.1 --listen tcp:$WS_PORT:interface=127.0.0.1 --drain-timeout 0 $SCENARIO_ARGS ${RPSA_ARGS:-}"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$HTTP_PORT" "$WS_PORT"; do
  if port_open "$p"; then echo "scenario.sh: port $p already in use (another server?); stop it or set HTTP_PORT/WS_PORT" >&2; exit 1; fi
done

OUT=${RESULTS_ROOT:-$BENCH/results}/$NAME-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT/logs"
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo "+dirty" || true)

write_meta() {  # scenario.json: how this folder was produced
  SC_NAME=$NAME SC_REPS=$REPS SC_DURATION=$DURATION SC_COMMIT=$COMMIT$DIRTY SC_LOADGEN=$LOADGEN_ARGS \
  SC_RPSA=$1 SC_CEILING=$CEILING_CMD SC_SERVERS=$SERVERS SC_EXTRA=${2:-} SC_ORIGINAL=${ORIGINAL_CMD:-} \
  SC_ORIGINAL_DIR=${ORIGINAL_DIR:-} SC_REDIS=${REDIS_CMD:-} python3 - "$OUT/scenario.json" <<'PY'
import datetime, json, os, sys
e = os.environ
meta = {"scenario": e["SC_NAME"], "reps": int(e["SC_REPS"]), "duration": e["SC_DURATION"],
        "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": e["SC_COMMIT"], "loadgen_args": e["SC_LOADGEN"], "rpsa_cmd": e["SC_RPSA"],
        "ceiling_cmd": e["SC_CEILING"], "servers": e["SC_SERVERS"].split(),
        "server_cpu": e.get("SERVER_CPU"), "gen_cpu": e.get("GEN_CPU"), "nproc": os.cpu_count()}
if "original" in meta["servers"]:
    meta.update({"original_cmd": e["SC_ORIGINAL"], "original_dir": e["SC_ORIGINAL_DIR"], "redis_cmd": e["SC_REDIS"]})
if e.get("SC_EXTRA"):
    meta.update(json.loads(e["SC_EXTRA"]))
json.dump(meta, open(sys.argv[1], "w"), indent=1)
PY
}

# ------------------------------------------------------------------ launch: PUT /api/match latency, cold and warm
if [ "$NAME" = launch ]; then
  [ -z "${ORIGINAL_DIR:-}" ] || echo "scenario.sh: launch measures rpsa's PUT /api/match only (the original has no such API)"
  SERVERS=rpsa
  if short; then COUNT=${COUNT:-10}; else COUNT=${COUNT:-50}; fi
  PAUSE=${PAUSE:-0.3}; WARM=${WARM:-4}; MATCH_PORTS=${MATCH_PORTS:-9000-9099}; MAX_MATCHES=${MAX_MATCHES:-100}
  CONCURRENCY=${CONCURRENCY:-1}
  [[ "$MATCH_PORTS" =~ ^([0-9]+)-([0-9]+)$ ]] || { echo "MATCH_PORTS is MIN-MAX" >&2; exit 2; }
  busy=$(python3 -c "import sys; sys.path.insert(0, '$BENCH'); import launch; print(len(launch.listening_ports($((BASH_REMATCH[1])), $((BASH_REMATCH[2])))))")
  [ "$busy" = 0 ] || { echo "scenario.sh: $busy port(s) in $MATCH_PORTS already listen (another server's matches?); set MATCH_PORTS" >&2; exit 1; }
  KEY_ARGS=""; LAUNCH_KEY=()
  if [ -n "${API_KEY:-}" ]; then
    (umask 077; printf '%s\n' "$API_KEY" >"$OUT/api-key"); KEY_ARGS="--api-key-file $OUT/api-key"; LAUNCH_KEY=(--api-key "$API_KEY")
  fi
  write_meta "$RPSA_CMD --match-ports $MATCH_PORTS --max-matches $MAX_MATCHES --warm-matches {0|$WARM} $KEY_ARGS" \
    "{\"count\": $COUNT, \"pause_s\": $PAUSE, \"warm\": $WARM, \"match_ports\": \"$MATCH_PORTS\", \"concurrency\": $CONCURRENCY}"
  SPID=""
  stop_server() {  # TERM the daemon by PID, KILL after 10 s; then any of its match children still alive
    [ -n "$SPID" ] || return 0
    local kids="" k
    for k in /proc/"$SPID"/task/*/children; do kids="$kids $(cat "$k" 2>/dev/null || true)"; done
    kill "$SPID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    for k in $kids; do
      if grep -qs rpsa.matches.child "/proc/$k/cmdline"; then echo "stopping leftover match child $k"; kill -9 "$k" 2>/dev/null || true; fi
    done
    SPID=""
  }
  trap 'stop_server; rm -f "$OUT/api-key"' EXIT
  trap 'exit 130' INT TERM
  for rep in $(seq 1 "$REPS"); do
    for mode in cold warm; do
      for p in "$HTTP_PORT" "$WS_PORT"; do
        if port_open "$p"; then echo "port $p already in use; stop the old server first (or set HTTP_PORT/WS_PORT)" >&2; exit 1; fi
      done
      nwarm=0; [ "$mode" = warm ] && nwarm=$WARM
      echo "=== launch $mode rep $rep/$REPS: $(date -u +%H:%M:%S) ==="
      ( cd "$OUT" && exec env PYTHONPATH="$REPO" taskset -c "$SERVER_CPU" $RPSA_CMD --match-ports "$MATCH_PORTS" \
          --max-matches "$MAX_MATCHES" --warm-matches "$nwarm" $KEY_ARGS ) >"$OUT/logs/launch-$mode.rep$rep.server.log" 2>&1 &
      SPID=$!
      for _ in $(seq 1 150); do port_open "$HTTP_PORT" && break; kill -0 "$SPID" 2>/dev/null || break; sleep 0.2; done
      port_open "$HTTP_PORT" || { echo "rpsa did not open port $HTTP_PORT; see $OUT/logs" >&2; exit 1; }
      sleep 1
      WAIT_ARGS=()
      [ "$mode" = warm ] && WAIT_ARGS=(--wait-ports "$MATCH_PORTS" --wait-count "$WARM")
      set +e
      taskset -c "$GEN_CPU" python3 "$BENCH/launch.py" --url "http://127.0.0.1:$HTTP_PORT" --count "$COUNT" \
        --concurrency "$CONCURRENCY" --pause "$PAUSE" --label "$mode" --json "$OUT/launch.jsonl" \
        "${WAIT_ARGS[@]}" "${LAUNCH_KEY[@]}" >/dev/null
      rc=$?
      set -e
      [ "$rc" = 0 ] || echo "launch.py exit code $rc"
      stop_server
      sleep 1
    done
  done
  trap - EXIT INT TERM
  rm -f "$OUT/api-key"
  echo "results: $OUT"
  python3 "$BENCH/compare.py" "$OUT" || true
  exit 0
fi

# ------------------------------------------------------------------ loadgen scenarios: each server per rep
for server in $SERVERS; do
  case "$server" in ceiling|original|rpsa) ;; *)
    echo "scenario.sh: unknown server $server (SERVERS is a subset of 'ceiling original rpsa')" >&2; exit 2 ;;
  esac
done
REDIS_PID_ORIG=0; REDIS_PORT_ORIG=""
if [[ " $SERVERS " == *" original "* ]]; then
  # The original, as its package.json's game_rps script runs it; its hosts, ports and Redis URL are constants
  # in index.js (bench/original.py checks them), and it needs a Redis: one of our own, no persistence, pinned
  # with the generator as in the reference figures, FLUSHALLed by run.sh before each rep, stopped at the end.
  [ -n "${ORIGINAL_DIR:-}" ] || { echo "scenario.sh: SERVERS names original: set ORIGINAL_DIR" >&2; exit 2; }
  ORIGINAL_DIR=$(cd "$ORIGINAL_DIR" && pwd)
  [ -d "$ORIGINAL_DIR/node_modules/ws" ] || {
    echo "scenario.sh: $ORIGINAL_DIR has no node_modules: run ORIGINAL_DIR=$ORIGINAL_DIR bench/setup.sh" >&2; exit 1; }
  python3 "$BENCH/original.py" check "$ORIGINAL_DIR" --http-port "$HTTP_PORT" --ws-port "$WS_PORT" >/dev/null || {
    echo "scenario.sh: set up $ORIGINAL_DIR/index.js as bench/README.md says (\"The original server\")" >&2; exit 1; }
  REDIS_PORT_ORIG=$(python3 "$BENCH/original.py" redis-port "$ORIGINAL_DIR" --http-port "$HTTP_PORT" --ws-port "$WS_PORT")
  if port_open "$REDIS_PORT_ORIG"; then
    echo "scenario.sh: port $REDIS_PORT_ORIG (the original's Redis, index.js) already in use; stop that server" >&2; exit 1
  fi
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
    echo "scenario.sh: the original needs redis-server and redis-cli (Debian: apt-get install redis-server)" >&2; exit 1; }
  ORIGINAL_CMD="node index.js"
  REDIS_CMD="redis-server --bind 127.0.0.1 --port $REDIS_PORT_ORIG --save '' --appendonly no --dir $OUT"
  mkdir -p "$OUT/logs"
  taskset -c "$GEN_CPU" redis-server --bind 127.0.0.1 --port "$REDIS_PORT_ORIG" --save '' --appendonly no \
    --dir "$OUT" --daemonize no >"$OUT/logs/redis.log" 2>&1 &
  REDIS_PID_ORIG=$!
  stop_redis() {
    [ "$REDIS_PID_ORIG" != 0 ] || return 0
    kill "$REDIS_PID_ORIG" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$REDIS_PID_ORIG" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$REDIS_PID_ORIG" 2>/dev/null || true
    wait "$REDIS_PID_ORIG" 2>/dev/null || true
    REDIS_PID_ORIG=0
  }
  trap stop_redis EXIT
  trap 'exit 130' INT TERM
  for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT_ORIG" ping >/dev/null 2>&1 && break
    kill -0 "$REDIS_PID_ORIG" 2>/dev/null || break
    sleep 0.2
  done
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT_ORIG" ping >/dev/null 2>&1 || {
    echo "scenario.sh: redis-server did not start on $REDIS_PORT_ORIG; see $OUT/logs/redis.log" >&2; exit 1; }
  unset NODE_ENV   # as the game_rps script runs it (development/test would add a debug route)
fi
write_meta "$RPSA_CMD"
echo "scenario $NAME x $REPS ($DURATION): loadgen $LOADGEN_ARGS"
echo "  ceiling:  $CEILING_CMD"
[ -z "$REDIS_PORT_ORIG" ] || echo "  original: (cd $ORIGINAL_DIR && $ORIGINAL_CMD), $REDIS_CMD"
echo "  rpsa:     PYTHONPATH=$REPO $RPSA_CMD"
PROFILE_PID=""
if [ -n "${PROFILE:-}" ]; then
  case "$NAME" in steady*|http) ;; *) echo "scenario.sh: PROFILE is for steady and http scenarios" >&2; exit 2 ;; esac
  PY_SPY=${PY_SPY:-$(dirname "$PYTHON")/py-spy}
  [ -x "$PY_SPY" ] || PY_SPY=$(command -v py-spy || true)
  [ -n "$PY_SPY" ] || { echo "scenario.sh: PROFILE needs py-spy (pip install py-spy; or set PY_SPY)" >&2; exit 1; }
  mkdir -p "$OUT/profile"
  # When the window starts: run.sh waits 2 s after the ports open, then loadgen ramps (steady) and settles.
  PROFILE_DELAY=$((2 + SETTLE))
  case "$NAME" in steady*) PROFILE_DELAY=$((PROFILE_DELAY + (GAMES + RAMP - 1) / RAMP)) ;; esac
  echo "  profile:  $PY_SPY record -p <rpsa> -d $MEASURE -r ${PROFILE_RATE:-100} -f raw, ${PROFILE_DELAY} s after its ports open"
fi
profile_rpsa() {  # $1: the rep; waits for rpsa's WebSocket port, then records its window
  local pid=""
  for _ in $(seq 1 300); do
    pid=$(ss -Hltnp "sport = :$WS_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || { echo "profile: rpsa never listened on $WS_PORT" >&2; return 0; }
  sleep "$PROFILE_DELAY"
  "$PY_SPY" record -p "$pid" -d "$MEASURE" -r "${PROFILE_RATE:-100}" -f raw -o "$OUT/profile/rpsa.rep$1.txt" \
    >"$OUT/logs/rep$1/py-spy.log" 2>&1 || echo "profile: py-spy failed; see $OUT/logs/rep$1/py-spy.log" >&2
}
for rep in $(seq 1 "$REPS"); do
  for server in $SERVERS; do
    rport=""; rpid=0
    case "$server" in
      ceiling) cmd=$CEILING_CMD; senv=""; cwd=$HARNESS ;;
      original) cmd=$ORIGINAL_CMD; senv=""; cwd=$ORIGINAL_DIR; rport=$REDIS_PORT_ORIG; rpid=$REDIS_PID_ORIG ;;
      rpsa) cmd=$RPSA_CMD; senv="PYTHONPATH=$REPO"; cwd=$OUT ;;
    esac
    mkdir -p "$OUT/logs/rep$rep"
    if [ -n "${PROFILE:-}" ] && [ "$server" = rpsa ]; then profile_rpsa "$rep" & PROFILE_PID=$!; fi
    # shellcheck disable=SC2086  # LOADGEN_ARGS is a list of words
    SERVER_CMD=$cmd SERVER_ENV=$senv SERVER_CWD=$cwd RESULTS=$OUT LOGS=$OUT/logs/rep$rep REDIS_PORT=$rport \
      REDIS_PID=$rpid "$HARNESS/run.sh" "$server" 1 $LOADGEN_ARGS --label "$server#$rep"
    if [ -n "$PROFILE_PID" ]; then kill "$PROFILE_PID" 2>/dev/null || true; wait "$PROFILE_PID" 2>/dev/null || true; PROFILE_PID=""; fi
  done
done
[ -z "$REDIS_PORT_ORIG" ] || { stop_redis; trap - EXIT INT TERM; }
echo "results: $OUT"
python3 "$BENCH/compare.py" "$OUT" || true
if [ -n "${PROFILE:-}" ] && ls "$OUT"/profile/rpsa.rep*.txt >/dev/null 2>&1; then
  python3 "$BENCH/profile_summary.py" "$OUT"/profile/rpsa.rep*.txt --top 15
fi
