#!/usr/bin/env python3
"""What the cluster costs: CPU per game with ``--redis`` against without, Redis commands per game, forwarded joins.

    python3 bench/cluster.py [--games 200] [--reps 3] [--joins 400] [--tick 0.02] [--callgrind-games 40] [--json FILE]

1. CPU per game.  For each rep, one daemon without ``--redis`` and one with it (and a local
   redis-server), fresh, side by side: at the same time, a ``rpsa.tools.loadtest --mode
   once`` for each plays ``--games`` whole games (create, join, two WebSockets, play to
   GAME_COMPLETE, close), and each daemon's own CPU time (utime + stime from
   /proc/PID/stat, not wall time) over the run is divided by its games completed.  Running
   them together makes both see the same machine load at the same moments, so each rep's
   ratio (with/without) is a fair pair; the report gives the medians and those ratios.
2. Redis commands per game, in the same runs, divided by the games completed: those the node
   sent (its ``rpsa_redis_commands_total``: script calls, heartbeats included) and those
   Redis ran (``INFO commandstats``, which counts each command a script runs).
3. A forwarded join: two nodes (A, B) and Redis; ``--joins`` games are created on A and
   joined alternately through A (local) and through B (forwarded to A over the bus), one
   request at a time on keep-alive connections; latency of each join from send to the whole
   answer.  Interleaving puts the same machine load on both; the report gives median and
   p99 of each and the medians' difference.

4. With ``--callgrind-games N``: the daemon's instructions per game, with and without
   ``--redis``, counted by valgrind's callgrind over N games: a figure other load on the
   machine does not change.  The daemon runs some 50 times slower under callgrind, so the
   work that comes with time rather than with games (the heartbeat every 2 s, pings) is
   measured apart, over 20 s without games, and subtracted at that rate.

Standard library only (plus the repository's rpsa for its load generator); every process it
starts is stopped, every wait is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")
REDIS_SERVER = "/usr/bin/redis-server"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
IDLE_SECONDS = 20.0  # under callgrind: the daemon's cost per second with no game, subtracted from the run's


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid``, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def metric(port: int, name: str) -> float:
    """The value of the unlabelled metric ``name`` in the daemon's /metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    for line in conn.getresponse().read().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def wait_http(port: int, path: str = "/healthz", timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


class Redis:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="rpsa-bench-redis-")
        self.proc = subprocess.Popen([REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.command("PING") == "PONG":
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *args: str) -> str:
        """One inline command on a fresh connection; the raw reply, decoded."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(("*%d\r\n" % len(args) + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                data += chunk
                if not chunk or self._complete(data):
                    break
        text = data.decode()
        if text.startswith("+"):
            return text[1:].strip()
        return text.split("\r\n", 1)[1] if text.startswith("$") else text

    @staticmethod
    def _complete(data: bytes) -> bool:
        if data.startswith((b"+", b"-", b":")):
            return data.endswith(b"\r\n")
        if data.startswith(b"$"):
            header, _, rest = data.partition(b"\r\n")
            return len(rest) >= int(header[1:]) + 2
        return True

    def calls(self) -> int:
        """Commands Redis has run (INFO commandstats, calls summed), this INFO excluded."""
        info = self.command("INFO", "commandstats")
        total = 0
        for line in info.splitlines():
            if line.startswith("cmdstat_") and "calls=" in line:
                total += int(line.split("calls=")[1].split(",")[0])
        return total - 1

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Daemon:
    def __init__(self, args, callgrind: str = ""):
        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=REPO)
        argv = [TWISTD, "-n", "--pidfile=", "rpsa", "--listen", f"tcp:{self.port}:interface=127.0.0.1", *args]
        if callgrind:  # instructions counted only between instrument() and count()
            argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={callgrind}",
                    sys.executable, *argv]
        self.callgrind = callgrind
        self.dumps = 0
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(self.port, timeout=300 if callgrind else 20)

    def instrument(self) -> None:
        subprocess.run(["callgrind_control", "-i", "on", str(self.proc.pid)], check=True, capture_output=True)

    def count(self) -> int:
        """Instructions executed since :meth:`instrument` or the last count (callgrind's dump zeroes them)."""
        subprocess.run(["callgrind_control", "-d", str(self.proc.pid)], check=True, capture_output=True)
        self.dumps += 1
        with open(f"{self.callgrind}.{self.dumps}") as f:
            for line in f:
                if line.startswith("summary:"):
                    return int(line.split()[1])
        raise RuntimeError("no summary in the callgrind dump")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def play(port: int, games: int, tick: float, slow: bool = False) -> int:
    """Play ``games`` whole games against the daemon on ``port``; the number completed."""
    report = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    subprocess.run([sys.executable, "-m", "rpsa.tools.loadtest", "--http", f"http://127.0.0.1:{port}",
                    "--mode", "once", "--games", str(games), "--settle", "0", "--measure", "1",
                    "--tick-ms", str(tick * 1000), "--max-seconds", "1800" if slow else "600", "--quiet", "--progress", "0",
                    # Under valgrind: games started two a second, so that no burst holds the reactor for seconds.
                    *(["--tick-timeout-ms", "60000", "--step-timeout-ms", "120000", "--ramp-rate", "2"] if slow else []),
                    "--json", report], env=dict(os.environ, PYTHONPATH=REPO), check=True, timeout=2000)
    with open(report) as f:
        line = json.loads(f.read().splitlines()[-1])
    os.unlink(report)
    if line["errorsTotal"]:
        print(f"  load generator errors: {line['errors']}", file=sys.stderr)
    return int(line["completed"])


def cpu_per_game(args) -> dict:
    """Both daemons run at once, each with its own load generator (the same games): whatever else the machine
    does, both see it at the same moments, so each rep's ratio is a fair pair."""
    figures = {"without": [], "with": [], "commands": [], "executed": []}
    for rep in range(args.reps):
        redis = Redis()
        daemons = {"without": Daemon(["--tick", str(args.tick), "--max-games", "100000",
                                      "--max-messages-per-second", "1000"]),
                   "with": Daemon(["--tick", str(args.tick), "--max-games", "100000",
                                   "--max-messages-per-second", "1000", "--redis", redis.url])}
        try:
            time.sleep(1.0)  # the node joined, its first heartbeats are out
            sent = metric(daemons["with"].port, "rpsa_redis_commands_total")
            calls = redis.calls()
            before = {mode: cpu_seconds(d.proc.pid) for mode, d in daemons.items()}
            completed = {}
            threads = [threading.Thread(target=lambda m=mode, d=daemon: completed.__setitem__(
                m, play(d.port, args.games, args.tick))) for mode, daemon in daemons.items()]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=900)
            for mode, daemon in daemons.items():
                spent = cpu_seconds(daemon.proc.pid) - before[mode]
                figures[mode].append(spent / completed[mode] * 1000)
            figures["executed"].append((redis.calls() - calls) / completed["with"])
            figures["commands"].append((metric(daemons["with"].port, "rpsa_redis_commands_total") - sent)
                                       / completed["with"])
            print(f"rep {rep + 1}: {completed['without']} + {completed['with']} games, "
                  f"{figures['without'][-1]:.2f} ms/game without --redis, {figures['with'][-1]:.2f} with; "
                  f"{figures['commands'][-1]:.1f} commands sent and {figures['executed'][-1]:.1f} run by Redis "
                  "(scripts' included) per game", file=sys.stderr)
        finally:
            for daemon in daemons.values():
                daemon.stop()
            redis.stop()
    without, with_ = statistics.median(figures["without"]), statistics.median(figures["with"])
    paired = [w / wo for w, wo in zip(figures["with"], figures["without"])]
    return {"cpu_ms_per_game_without": round(without, 3), "cpu_ms_per_game_with": round(with_, 3),
            "ratio": round(with_ / without, 4), "paired_ratio_median": round(statistics.median(paired), 4),
            "paired_ratios": [round(r, 4) for r in paired],
            "redis_commands_sent_per_game": round(statistics.median(figures["commands"]), 1),
            "redis_commands_run_per_game": round(statistics.median(figures["executed"]), 1), "reps": figures}


def instructions_per_game(args) -> dict:
    """The daemon's instructions per game, counted by valgrind's callgrind: the same for the same work, whatever
    else the machine runs (the daemon runs some 50 times slower under it, so time-driven work, heartbeats and
    coalesced writes, is not quite as in production)."""
    counts = {}
    for mode in ("without", "with"):
        redis = Redis() if mode == "with" else None
        out = tempfile.mktemp(prefix="rpsa-callgrind-")
        daemon = Daemon(["--tick", str(args.tick), "--max-messages-per-second", "1000",
                         *(["--redis", redis.url] if redis else [])], callgrind=out)
        try:
            time.sleep(3.0)
            daemon.instrument()
            started = time.monotonic()
            time.sleep(IDLE_SECONDS)
            idle_rate = daemon.count() / (time.monotonic() - started)  # timers, pings, heartbeats: not games
            calls = redis.calls() if redis else 0
            started = time.monotonic()
            completed = play(daemon.port, args.callgrind_games, args.tick, slow=True)
            elapsed = time.monotonic() - started
            total = daemon.count()
            counts[mode] = (total - idle_rate * elapsed) / completed
            counts[mode + "_idle_per_second"] = idle_rate
            if redis:
                counts["redis_commands_run_per_game"] = (redis.calls() - calls) / completed
            print(f"callgrind {mode:7} --redis: {completed} games in {elapsed:.0f} s, {total / completed / 1e6:.2f} M "
                  f"instructions/game, {counts[mode] / 1e6:.2f} M without the idle rate "
                  f"({idle_rate / 1e6:.2f} M/s)", file=sys.stderr)
        finally:
            daemon.stop()
            if redis:
                redis.stop()
            for suffix in ("", ".1", ".2", ".3"):
                if os.path.exists(out + suffix):
                    os.unlink(out + suffix)
    return {"instructions_per_game_without": round(counts["without"]), "instructions_per_game_with": round(
        counts["with"]), "instructions_ratio": round(counts["with"] / counts["without"], 4),
            "idle_instructions_per_second_without": round(counts["without_idle_per_second"]),
            "idle_instructions_per_second_with": round(counts["with_idle_per_second"]),
            "callgrind_redis_commands_run_per_game": round(counts["redis_commands_run_per_game"], 1)}


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def forwarded_join(args) -> dict:
    redis = Redis()
    a = Daemon(["--redis", redis.url, "--node-name", "a"])
    b = Daemon(["--redis", redis.url, "--node-name", "b"])
    try:
        time.sleep(3.0)  # both heartbeats seen
        conns = {name: http.client.HTTPConnection("127.0.0.1", d.port, timeout=10) for name, d in (("a", a), ("b", b))}
        headers = {"Content-Type": "application/json"}
        times = {"a": [], "b": []}

        def call(name, method, path, body):
            conn = conns[name]
            started = time.perf_counter()
            conn.request(method, path, json.dumps(body), headers)
            response = conn.getresponse()
            response.read()
            return response.status, time.perf_counter() - started

        for i in range(args.joins):
            status, _ = call("a", "POST", "/api/games", {"user_id": f"h{i}", "username": "H", "game_id": f"j{i}"})
            assert status == 201, status
            via = "a" if i % 2 == 0 else "b"
            status, seconds = call(via, "POST", f"/api/games/j{i}/players", {"user_id": f"g{i}", "username": "G"})
            assert status == 201, status
            times[via].append(seconds * 1000)
        local, forwarded = times["a"], times["b"]
        return {"joins_each": len(local), "local_ms": {"median": round(statistics.median(local), 3),
                                                      "p99": round(percentile(local, 99), 3)},
                "forwarded_ms": {"median": round(statistics.median(forwarded), 3),
                                 "p99": round(percentile(forwarded, 99), 3)},
                "added_median_ms": round(statistics.median(forwarded) - statistics.median(local), 3)}
    finally:
        a.stop()
        b.stop()
        redis.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--joins", type=int, default=400)
    parser.add_argument("--tick", type=float, default=0.02)
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--callgrind-games", type=int, default=0,
                        help="also count instructions per game under valgrind's callgrind, over this many games")
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    report = {"load_average": os.getloadavg(), "cores": os.cpu_count()}
    if not args.skip_cpu:
        report.update(cpu_per_game(args))
    if args.callgrind_games:
        report.update(instructions_per_game(args))
    report["forwarded_join"] = forwarded_join(args)
    line = json.dumps(report)
    print(line)
    if args.json:
        with open(args.json, "a") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
