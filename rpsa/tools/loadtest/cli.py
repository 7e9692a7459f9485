"""The command line of ``python -m rpsa.tools.loadtest`` (``rpsa-loadtest``): options, main, the reports.

Options are parsed and checked up front (:func:`parse_options` raises
:class:`OptionsError`; :func:`main` exits 2 with the usage).  At the end of a
run the human-readable report (:func:`format_report`) goes to stdout unless
``--quiet``, and the JSON report is appended to ``--json`` as one line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Dict, Optional, Sequence
from urllib.parse import urlsplit, urlunsplit

from twisted.internet import defer, task
from twisted.logger import (
    FilteringLogObserver, LogLevel, LogLevelFilterPredicate, globalLogBeginner, textFileLogObserver)

from rpsa.rules import FIGHTERS
from rpsa.tools.loadtest.run import MAX_GAMES, LoadTest


class OptionsError(ValueError):
    """A command line that cannot be run."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises OptionsError instead of exiting."""

    def error(self, message):
        raise OptionsError(message)


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}")
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {s!r}")
    return v


def _nonneg_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}")
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {s!r}")
    return v


def _positive_float(s: str) -> float:
    v = _nonneg_float(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {s!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rpsa.tools.loadtest``."""
    p = _Parser(
        prog="python -m rpsa.tools.loadtest",
        description="Play N concurrent RPSA games against a server and report tick jitter, errors, "
        "HTTP latency and CPU/RSS (figures computed as bench/loadgen.js does).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    t = p.add_argument_group("target")
    t.add_argument("--http", default="http://127.0.0.1:8080", help="HTTP base URL of the server")
    t.add_argument("--compat", action="store_true",
                   help="use the original server's routes (/create_game, /join_game, ?game_token=&user_id=)")
    t.add_argument("--ws", default=None,
                   help="--compat only: WebSocket base URL (default: the --http URL with a ws scheme)")
    t.add_argument("--create-path", default="/create_game", help="--compat only: create route")
    t.add_argument("--join-path", default="/join_game", help="--compat only: join route")
    t.add_argument("--ws-path", default="/?game_token={token}&user_id={userId}",
                   help="--compat only: WebSocket path template ({token} {userId} {gameId} {username})")
    t.add_argument("--token-field", default="gameToken", help="--compat only: token field of the reply")
    t.add_argument("--api-key", default=None, help="send 'Authorization: Bearer KEY' on HTTP requests")
    t.add_argument("--api-key-file", default=None, help="read the API key from this file (first line)")
    t.add_argument("--rounds", type=_positive_int, default=None, help="native only: rounds per match to ask for")
    t.add_argument("--send-game-id", action="store_true",
                   help="native only: send a generated game_id on create (default: the server picks one)")

    r = p.add_argument_group("run")
    r.add_argument("--mode", choices=("steady", "once"), default="steady",
                   help="steady: each slot plays games back to back; once: each slot plays one game")
    r.add_argument("--games", type=_positive_int, default=100, help="concurrent games (slots)")
    r.add_argument("--ramp", type=_nonneg_float, default=None,
                   help="seconds over which the slots are started (default: --games / 100, i.e. 100 games/s)")
    r.add_argument("--ramp-rate", type=_positive_float, default=None,
                   help="start slots at this many games per second instead (loadgen.js's --ramp)")
    r.add_argument("--settle", type=_nonneg_float, default=10.0, help="seconds between ramp end and window")
    r.add_argument("--measure", type=_positive_float, default=60.0, help="measurement window, seconds")
    r.add_argument("--max-seconds", type=_nonneg_float, default=0.0,
                   help="hard bound on the whole run (0: window end + 60 s)")
    r.add_argument("--tick-ms", type=_positive_float, default=1000.0, help="the server's nominal tick")
    r.add_argument("--http-conns", type=_positive_int, default=64, help="HTTP requests in flight at most")
    r.add_argument("--http-timeout-ms", type=_positive_float, default=10000.0, help="HTTP request timeout")
    r.add_argument("--step-timeout-ms", type=_positive_float, default=15000.0, help="timeout of each set-up step")
    r.add_argument("--tick-timeout-ms", type=_positive_float, default=5000.0,
                   help="silence on a playing socket longer than this is an error")
    r.add_argument("--game-timeout-ms", type=_positive_float, default=600000.0, help="longest game")
    r.add_argument("--close-wait-ms", type=_nonneg_float, default=1000.0,
                   help="after GAME_COMPLETE, abort sockets whose close handshake has not finished by then")
    r.add_argument("--restart-delay-ms", type=_nonneg_float, default=0.0,
                   help="steady: pause between a slot's games (at least 1000 after an error)")
    r.add_argument("--src-ips", type=_positive_int, default=1,
                   help="spread WebSocket client sockets over 127.0.0.1..127.0.0.N")
    r.add_argument("--fighters", default=",".join(FIGHTERS), help="fighters to pick from, comma-separated")
    r.add_argument("--seed", type=int, default=None, help="seed of the random choices")

    o = p.add_argument_group("output")
    o.add_argument("--server-pid", type=int, default=0, help="sample CPU and VmRSS of this process")
    o.add_argument("--aux-pid", type=int, default=0, help="sample a second process too (e.g. redis)")
    o.add_argument("--json", default="", help="append the JSON report line to this file ('-': stdout)")
    o.add_argument("--label", default="", help="label stored in the JSON report")
    o.add_argument("--progress", type=_nonneg_float, default=10.0,
                   help="seconds between progress lines on stderr (0: off)")
    o.add_argument("--quiet", action="store_true", help="do not print the human-readable report")
    o.add_argument("--verbose", action="store_true", help="log at info level (default: warnings) to stderr")
    return p


def _ws_from_http(http: str) -> str:
    parts = urlsplit(http)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def parse_options(argv: Sequence[str]) -> argparse.Namespace:
    """Parse and check a command line; raise OptionsError for one that cannot be run."""
    p = build_parser()
    args = p.parse_args(list(argv))
    given = set()
    for a in argv:
        if a.startswith("--"):
            given.add(a[2:].split("=", 1)[0])
    http = urlsplit(args.http)
    if http.scheme not in ("http", "https") or not http.hostname:
        raise OptionsError(f"--http must be an http:// or https:// URL: {args.http!r}")
    args.http = args.http.rstrip("/")
    compat_only = {"ws", "create-path", "join-path", "ws-path", "token-field"} & given
    native_only = {"rounds", "send-game-id"} & given
    if args.compat and native_only:
        raise OptionsError("--{} only applies to the native routes (not with --compat)".format(sorted(native_only)[0]))
    if not args.compat and compat_only:
        raise OptionsError("--{} only applies with --compat".format(sorted(compat_only)[0]))
    if args.compat:
        args.ws = (args.ws or _ws_from_http(args.http)).rstrip("/")
        ws = urlsplit(args.ws)
        if ws.scheme not in ("ws", "wss") or not ws.hostname:
            raise OptionsError(f"--ws must be a ws:// or wss:// URL: {args.ws!r}")
    if args.api_key is not None and args.api_key_file is not None:
        raise OptionsError("give --api-key or --api-key-file, not both")
    if args.api_key_file is not None:
        try:
            with open(args.api_key_file, encoding="utf-8") as f:
                args.api_key = f.readline().strip()
        except OSError as e:
            raise OptionsError(f"cannot read --api-key-file: {e}")
        if not args.api_key:
            raise OptionsError("--api-key-file is empty")
    if args.api_key is not None and (not args.api_key or any(c in args.api_key for c in "\r\n")):
        raise OptionsError("--api-key must be a non-empty single line")
    if args.ramp is not None and args.ramp_rate is not None:
        raise OptionsError("give --ramp (seconds) or --ramp-rate (games per second), not both")
    if args.ramp_rate is not None:
        args.ramp = args.games / args.ramp_rate
    elif args.ramp is None:
        args.ramp = args.games / 100
    args.fighters = [f.strip() for f in args.fighters.split(",") if f.strip()]
    if not args.fighters:
        raise OptionsError("--fighters lists no fighter")
    if args.games > MAX_GAMES:
        raise OptionsError(f"--games is at most {MAX_GAMES}")
    if args.src_ips > 254:
        raise OptionsError("--src-ips is at most 254")
    if args.json and args.json != "-" and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        raise OptionsError(f"--json: no such directory for {args.json!r}")
    if args.server_pid < 0 or args.aux_pid < 0:
        raise OptionsError("a pid must be positive")
    return args


def _fmt(x: Any) -> str:
    return "-" if x is None else str(x)


def _fmt_summary(s: Optional[Dict[str, Any]]) -> str:
    if not s or not s.get("n"):
        return "n 0"
    return "n {n}  p50 {p50}  p90 {p90}  p99 {p99}  max {max}  min {min}".format(**s)


def _fmt_usage(u: Optional[Dict[str, Any]]) -> str:
    if not u:
        return "no samples in the window"
    return "cpu {}% (max 1 s sample {}%), rss {} MB at window start, {} MB at end, {} MB max".format(
        _fmt(u.get("cpuPct")), _fmt(u.get("cpuPctMaxSample")), _fmt(u.get("rssMbStart")),
        _fmt(u.get("rssMbEnd")), _fmt(u.get("rssMbMax")))


def format_report(r: Dict[str, Any]) -> str:
    """The human-readable report of a run, from its JSON report."""
    errors = r.get("errors") or {}
    lines = [
        "rpsa load test{}: mode {}, {} games, {} routes, http {}{}".format(
            f" [{r['label']}]" if r.get("label") else "", r.get("mode"), r.get("games"), r.get("routes"),
            r.get("http"), f", ws {r['ws']}" if r.get("ws") else ""),
        "timeline: ramp {} s, settle {} s, window {} s of {} s{}".format(
            _fmt(r.get("rampS")), _fmt(r.get("settleS")), _fmt(r.get("windowS")), _fmt(r.get("measureS")),
            " (HARD STOP: --max-seconds reached)" if r.get("hardStop") else ""),
        "games: started {}, completed {} ({} in the window)".format(
            r.get("started"), r.get("completed"), r.get("completedInWindow")),
        "errors: {} total, {} in the window{}".format(
            r.get("errorsTotal"), r.get("errorsInWindow"),
            "" if not errors else ": " + ", ".join(f"{k} {v}" for k, v in sorted(errors.items()))),
        "tick jitter ms (tick {} ms): {}".format(_fmt(r.get("tickMs")), _fmt_summary(r.get("tickJitterMs"))),
        "http latency ms: {}; ok/s in window {}".format(
            _fmt_summary(r.get("httpLatencyMs")), _fmt(r.get("httpOkPerSec"))),
        "game length: ticks p50 {}, seconds p50 {}".format(
            _fmt((r.get("gameLengthTicks") or {}).get("p50")), _fmt((r.get("gameLengthS") or {}).get("p50"))),
        "close handshake timeouts: {}".format(r.get("closeHandshakeTimeouts")),
    ]
    if "server" in r:
        lines.append("server: " + _fmt_usage(r.get("server")))
    if "aux" in r:
        lines.append("aux process: " + _fmt_usage(r.get("aux")))
    g = r.get("generator") or {}
    lines.append("generator: cpu {}%, event-loop lag p99 {} ms, max {} ms, rss {} MB".format(
        _fmt(g.get("cpuPct")), _fmt(g.get("loopDelayP99Ms")), _fmt(g.get("loopDelayMaxMs")), _fmt(g.get("rssMb"))))
    steal = r.get("steal")
    if steal:
        lines.append("hypervisor steal: " + ", ".join(
            f"{k} {v['pct']}% (max 1 s {v['maxPct1s']}%)" for k, v in sorted(steal.items())))
    return "\n".join(lines) + "\n"


def write_json_line(path: str, report: Dict[str, Any], stdout=None) -> None:
    """Append the report as one JSON line to ``path`` ('-' is stdout)."""
    line = json.dumps(report, separators=(",", ":")) + "\n"
    if path == "-":
        (stdout or sys.stdout).write(line)
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)


def _start_logging(verbose: bool) -> None:
    level = LogLevel.info if verbose else LogLevel.warn
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr),
                                    [LogLevelFilterPredicate(defaultLogLevel=level)])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def _run(reactor, cfg) -> defer.Deferred:
    lt = LoadTest(reactor, cfg)

    def report(r):
        if not cfg.quiet:
            sys.stdout.write(format_report(r))
            sys.stdout.flush()
        if cfg.json:
            write_json_line(cfg.json, r)

    return lt.run().addCallback(report)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point of ``python -m rpsa.tools.loadtest`` and the ``rpsa-loadtest`` console script."""
    if argv is None:
        argv = sys.argv[1:]
    try:
        cfg = parse_options(argv)
    except OptionsError as e:
        build_parser().print_usage(sys.stderr)
        sys.stderr.write(f"rpsa.tools.loadtest: error: {e}\n")
        raise SystemExit(2)
    _start_logging(cfg.verbose)
    task.react(_run, (cfg,))
