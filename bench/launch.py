#!/usr/bin/env python3
"""Measure ``PUT /api/match`` latency against a running rpsa daemon.

    python3 bench/launch.py --url http://127.0.0.1:8080 --count 50 [--concurrency 1] [--api-key KEY]
                            [--pause 0.3] [--wait-ports 9000-9099 --wait-count 4] [--label warm] [--json FILE]

Each launch PUTs a fresh match id (two players), times the request until the whole answer is read, checks
the status (201, or 200 for a repeat) and then DELETEs the match so that its child exits and its port is
free again (the DELETE is not part of the latency).  ``--pause`` sleeps between one launch's DELETE and the
next PUT.  ``--wait-ports MIN-MAX --wait-count N`` additionally waits, before the first launch and before
each later one, until N sockets listen on ports MIN..MAX (the warm pool has refilled: a warm child binds its
port before it is ready), for at most ``--wait-timeout`` seconds; the time spent waiting is reported.

Prints one human-readable line and one JSON line (appended to ``--json`` too): p50/p99/max latency in ms,
errors by kind, the pause and refill waits.  Python standard library only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp{,6}


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (the loadgen's definition), or None if it is empty."""
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[i]


def listening_ports(lo, hi, proc_files=("/proc/net/tcp", "/proc/net/tcp6")):
    """The set of local ports in lo..hi with a socket in LISTEN state."""
    ports = set()
    for path in proc_files:
        try:
            with open(path) as f:
                next(f, None)
                for line in f:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == LISTEN:
                        port = int(fields[1].rsplit(":", 1)[1], 16)
                        if lo <= port <= hi:
                            ports.add(port)
        except OSError:
            continue
    return ports


def wait_for_listeners(lo, hi, count, timeout):
    """Wait until ``count`` ports in lo..hi listen (at most ``timeout`` s); return (seconds waited, reached)."""
    t0 = time.monotonic()
    while True:
        if len(listening_ports(lo, hi)) >= count:
            return time.monotonic() - t0, True
        if time.monotonic() - t0 >= timeout:
            return time.monotonic() - t0, False
        time.sleep(0.02)


class Client:
    """One keep-alive HTTP connection to the daemon (reopened after an error)."""

    def __init__(self, url, api_key, timeout):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http":
            raise SystemExit("launch.py: only http:// URLs are supported")
        self.host, self.port = u.hostname, u.port or 80
        self.prefix = u.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.conn = None

    def request(self, method, path, body=None):
        """Send one request; return (status, parsed JSON or None). Raises OSError/HTTPException on failure."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        data = json.dumps(body).encode() if body is not None else None
        try:
            self.conn.request(method, self.prefix + path, body=data, headers=self.headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return resp.status, parsed

    def close(self):
        if self.conn is not None:
            self.conn.close()


def run(opts):
    """Do ``opts.count`` launches; return the result dict."""
    run_id = os.urandom(3).hex()
    lock = threading.Lock()
    lat_ms, delete_ms, waits, errors = [], [], [], {}
    initial_wait = []  # the wait before a worker's first launch: the pool's first fill, not a refill
    next_index = iter(range(opts.count))
    wait_range = None
    if opts.wait_ports:
        lo, hi = (int(x) for x in opts.wait_ports.split("-"))
        wait_range = (lo, hi)

    def error(kind):
        with lock:
            errors[kind] = errors.get(kind, 0) + 1

    def worker(w):
        client = Client(opts.url, opts.api_key, opts.timeout)
        first = True
        try:
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                if not first and opts.pause > 0:
                    time.sleep(opts.pause)
                if wait_range and opts.wait_count > 0:
                    waited, ok = wait_for_listeners(*wait_range, opts.wait_count,
                                                    opts.wait_timeout if not first else opts.initial_wait_timeout)
                    with lock:
                        (initial_wait if first else waits).append(waited)
                    if not ok:
                        error("refill_wait_timeout")
                first = False
                match_id = f"bench-{run_id}-{i}"
                body = {
                    "match_id": match_id,
                    "rounds": opts.rounds,
                    "players": [{"user_id": f"{match_id}-p1", "username": "p1"},
                                {"user_id": f"{match_id}-p2", "username": "p2"}],
                }
                t0 = time.perf_counter()
                try:
                    status, answer = client.request("PUT", "/api/match", body)
                except (OSError, http.client.HTTPException) as e:
                    error(f"put_{type(e).__name__}")
                    continue
                elapsed = (time.perf_counter() - t0) * 1000
                if status not in (200, 201) or not isinstance(answer, dict) or "port" not in answer:
                    code = (answer or {}).get("error", {}).get("code") if isinstance(answer, dict) else None
                    error(f"put_status_{status}" + (f"_{code}" if code else ""))
                    continue
                with lock:
                    lat_ms.append(elapsed)
                t1 = time.perf_counter()
                try:
                    status, _ = client.request("DELETE", f"/api/match/{match_id}")
                except (OSError, http.client.HTTPException) as e:
                    error(f"delete_{type(e).__name__}")
                    continue
                if status != 200:
                    error(f"delete_status_{status}")
                with lock:
                    delete_ms.append((time.perf_counter() - t1) * 1000)
        finally:
            client.close()

    t_start = time.monotonic()
    with ThreadPoolExecutor(max_workers=opts.concurrency) as pool:
        for f in [pool.submit(worker, w) for w in range(opts.concurrency)]:
            f.result()
    return summarize(opts, lat_ms, delete_ms, waits, initial_wait, errors, time.monotonic() - t_start)


def summarize(opts, lat_ms, delete_ms, waits, initial_wait, errors, elapsed_s):
    """The result dict of one run (latencies in ms, rounded to 0.1)."""
    r1 = lambda x: None if x is None else round(x, 1)  # noqa: E731
    lat, dele, wt = sorted(lat_ms), sorted(delete_ms), sorted(waits)
    return {
        "label": opts.label,
        "url": opts.url,
        "count": opts.count,
        "ok": len(lat),
        "concurrency": opts.concurrency,
        "pauseS": opts.pause,
        "waitCount": opts.wait_count if opts.wait_ports else 0,
        "waitPorts": opts.wait_ports or None,
        "initialWaitMs": r1(max(initial_wait) * 1000) if initial_wait else None,
        "refillWaitMs": {"p50": r1(percentile(wt, 50) * 1000) if wt else None,
                         "max": r1(wt[-1] * 1000) if wt else None},
        "launchMs": {"n": len(lat), "p50": r1(percentile(lat, 50)), "p90": r1(percentile(lat, 90)),
                     "p99": r1(percentile(lat, 99)), "max": r1(lat[-1] if lat else None),
                     "min": r1(lat[0] if lat else None)},
        "deleteMs": {"p50": r1(percentile(dele, 50)), "max": r1(dele[-1] if dele else None)},
        "errors": errors,
        "errorsTotal": sum(errors.values()),
        "elapsedS": round(elapsed_s, 1),
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8080", help="the daemon's base URL")
    p.add_argument("--count", type=int, default=50, help="launches to do")
    p.add_argument("--concurrency", type=int, default=1, help="launches in flight at once")
    p.add_argument("--api-key", default=os.environ.get("RPSA_API_KEY"), help="sent as Authorization: Bearer")
    p.add_argument("--pause", type=float, default=0.0, help="seconds between a DELETE and the next PUT")
    p.add_argument("--wait-ports", default="", help="MIN-MAX: the match port range to watch for refills")
    p.add_argument("--wait-count", type=int, default=0, help="listening ports in --wait-ports to wait for")
    p.add_argument("--wait-timeout", type=float, default=15.0, help="most seconds to wait for a refill")
    p.add_argument("--initial-wait-timeout", type=float, default=60.0,
                   help="most seconds to wait for the pool's first fill, before the first launch")
    p.add_argument("--rounds", type=int, default=1, help="rounds of each match (1, 3, ...)")
    p.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout per request, seconds")
    p.add_argument("--label", default="")
    p.add_argument("--json", default="", help="append the JSON result line to this file")
    opts = p.parse_args(argv)
    if opts.count < 1 or opts.concurrency < 1:
        p.error("--count and --concurrency must be >= 1")
    if opts.wait_ports and (len(opts.wait_ports.split("-")) != 2 or not all(
            x.isdigit() for x in opts.wait_ports.split("-"))):
        p.error("--wait-ports is MIN-MAX")
    return opts


def main(argv=None):
    opts = parse_args(argv)
    res = run(opts)
    lm = res["launchMs"]
    rw = res["refillWaitMs"]
    print(f"launch {opts.label or ''}: {res['ok']}/{res['count']} ok, p50 {lm['p50']} ms, p99 {lm['p99']} ms, "
          f"max {lm['max']} ms; pause {opts.pause} s; initial fill wait {res['initialWaitMs']} ms; "
          f"refill wait p50/max {rw['p50']}/{rw['max']} ms; errors {res['errors'] or 0}", file=sys.stderr)
    line = json.dumps(res)
    print(line)
    if opts.json:
        with open(opts.json, "a") as f:
            f.write(line + "\n")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
