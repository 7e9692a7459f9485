#!/usr/bin/env python3
"""Cost per command of the Redis clients rpsa could use, against a real local redis-server.

    python3 bench/redis_clients.py [--count 20000] [--window 1000] [--reps 3] [--json FILE]

Starts ``redis-server`` (no persistence) on a free 127.0.0.1 port, then runs each candidate in a
fresh Python process (the reactor is chosen per process), REPS times, and prints the medians:

- ``txredisapi``: txredisapi's protocol on Twisted's default (epoll) reactor, the way rpsa uses it;
- ``rpsa``: rpsa's own connection service (:mod:`rpsa.redis.connection`, built on txredisapi's
  protocol) and its event-stream writer (one idempotent ``EVALSHA`` per batch of entries);
- ``redis-asyncioreactor``: redis-py's asyncio client inside Twisted's asyncioreactor (what rpsa
  would have to run on to use it), each call bridged with ``Deferred.fromFuture``;
- ``redis-asyncio``: redis-py's asyncio client on plain asyncio (a reference: no Twisted at all).

Each measures COUNT ``SET`` and COUNT ``XADD`` (a 9-field Varcade-sized entry) round trips,
sequential (one in flight) and pipelined (WINDOW in flight, the next window after the replies),
and reports microseconds of wall time and of the client process's CPU time per command.
Needs ``redis-server`` on PATH; the candidates need their packages importable (``redis``, with
or without ``hiredis``, for the redis-py ones).  Every wait is bounded; the server is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CANDIDATES = ("txredisapi", "rpsa", "redis-asyncioreactor", "redis-asyncio")
FIELDS = ["product_id", "exrps", "game_id", "g-123456", "type", "gameplay", "event_name", "select_weapon",
          "event_data", "2", "user_id", "user-42"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port):
    directory = tempfile.mkdtemp(prefix="rpsa-bench-redis-")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", directory],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def timed(run):
    """(wall seconds, cpu seconds) of ``run()`` (a callable returning an awaitable-free result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


# ---------------------------------------------------------------- candidates (run in a child process)

def run_twisted(port, count, window, mode):
    from twisted.internet import defer, protocol, reactor, task

    results = {}

    @defer.inlineCallbacks
    def measure(name, send):
        wall, cpu = time.perf_counter(), time.process_time()
        yield send()
        results[name] = ((time.perf_counter() - wall) / count * 1e6, (time.process_time() - cpu) / count * 1e6)

    def sequential(command):
        @defer.inlineCallbacks
        def send():
            for i in range(count):
                yield command(i)
        return send

    def pipelined(command):
        @defer.inlineCallbacks
        def send():
            for start in range(0, count, window):
                yield defer.gatherResults([command(i) for i in range(start, min(count, start + window))])
        return send

    @defer.inlineCallbacks
    def main():
        if mode == "txredisapi":
            import txredisapi

            client = yield protocol.ClientCreator(
                reactor, txredisapi.RedisProtocol, convertNumbers=False).connectTCP("127.0.0.1", port)
            set_ = lambda i: client.execute_command("SET", f"bench:{i}", "value")
            xadd = lambda i: client.execute_command("XADD", "bench:stream", "MAXLEN", "~", "100000", "*", *FIELDS)
            for name, cmd in (("set", set_), ("xadd", xadd)):
                yield measure(f"{name}_sequential", sequential(cmd))
                yield measure(f"{name}_pipelined", pipelined(cmd))
            client.transport.loseConnection()
        else:  # rpsa's own service and writer
            from rpsa.redis.connection import RedisConnection
            from rpsa.redis.schema import Keys
            from rpsa.redis.stream import StreamWriter
            from rpsa.redis.url import parse_redis_url

            connection = RedisConnection(reactor, parse_redis_url(f"redis://127.0.0.1:{port}/0"), command_timeout=float(os.environ.get("CT", "5")))
            connection.startService()
            for _ in range(100):
                if connection.connected:
                    break
                yield task.deferLater(reactor, 0.05, lambda: None)
            set_ = lambda i: connection.execute("SET", f"bench:{i}", "value")
            xadd = lambda i: connection.execute("XADD", "bench:stream", "MAXLEN", "~", "100000", "*", *FIELDS)
            for name, cmd in (("set", set_), ("xadd", xadd)):
                yield measure(f"{name}_sequential", sequential(cmd))
                yield measure(f"{name}_pipelined", pipelined(cmd))

            # The writer: entries appended one by one as play produces them; it batches by itself.
            for label, per_turn in (("writer_sequential", 1), ("writer_burst", window)):
                writer = StreamWriter(reactor, connection, "bench:events", Keys("rpsa-bench:"), maxlen=100000,
                                      max_queued=count + 1)
                writer.setServiceParent(connection)

                @defer.inlineCallbacks
                def feed():
                    for start in range(0, count, per_turn):
                        for i in range(start, min(count, start + per_turn)):
                            writer.append(FIELDS)
                        yield writer.flushed()
                yield measure(label, feed)
                yield writer.disownServiceParent()
            yield connection.stopService()

    def done(_):
        print(json.dumps(results))
        reactor.stop()

    def failed(f):
        f.printTraceback(file=sys.stderr)
        reactor.stop()

    reactor.callWhenRunning(lambda: main().addCallbacks(done, failed))
    reactor.run()


def run_redis_py(port, count, window, on_twisted):
    import asyncio

    import redis.asyncio as aioredis

    results = {}
    fields = dict(zip(FIELDS[::2], FIELDS[1::2]))

    def cmd(target, name, i):
        if name == "set":
            return target.set(f"bench:{i}", "value")
        return target.xadd("bench:stream", fields, maxlen=100000, approximate=True)

    async def main(bridge):
        """Every measurement; ``bridge`` is how the caller waits on one redis-py call."""
        client = aioredis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        await bridge(client.ping())
        for name in ("set", "xadd"):
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(count):
                await bridge(cmd(client, name, i))
            results[f"{name}_sequential"] = ((time.perf_counter() - wall) / count * 1e6,
                                             (time.process_time() - cpu) / count * 1e6)
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, count, window):
                pipe = client.pipeline(transaction=False)
                for i in range(start, min(count, start + window)):
                    cmd(pipe, name, i)
                await bridge(pipe.execute())
            results[f"{name}_pipelined"] = ((time.perf_counter() - wall) / count * 1e6,
                                            (time.process_time() - cpu) / count * 1e6)
        await bridge(client.aclose())

    if not on_twisted:
        async def direct(awaitable):
            return await awaitable

        asyncio.run(main(direct))
    else:
        # Inside Twisted (what rpsa would be): the asyncio reactor, Twisted code waiting on
        # each redis-py call through a Deferred.
        from twisted.internet import asyncioreactor

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        asyncioreactor.install(loop)
        from twisted.internet import defer, reactor

        def bridged(awaitable):
            return defer.Deferred.fromFuture(asyncio.ensure_future(awaitable))

        def start():
            d = defer.Deferred.fromCoroutine(main(bridged))
            d.addErrback(lambda f: f.printTraceback(file=sys.stderr))
            d.addBoth(lambda _: reactor.stop())

        reactor.callWhenRunning(start)
        reactor.run()
    print(json.dumps(results))


def child(args):
    if args.run in ("txredisapi", "rpsa"):
        run_twisted(args.port, args.count, args.window, args.run)
    else:
        run_redis_py(args.port, args.count, args.window, args.run == "redis-asyncioreactor")


# ---------------------------------------------------------------- the driver

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--json", default=None)
    parser.add_argument("--run", choices=CANDIDATES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        return child(args)

    port = free_port()
    server = start_redis(port)
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    table = {}
    try:
        for candidate in args.candidates.split(","):
            reps = []
            for _ in range(args.reps):
                out = subprocess.run(
                    [sys.executable, __file__, "--run", candidate, "--port", str(port), "--count", str(args.count),
                     "--window", str(args.window)],
                    env=env, capture_output=True, text=True, timeout=600,
                )
                if out.returncode or not out.stdout.strip():
                    print(f"{candidate}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                    break
                reps.append(json.loads(out.stdout.strip().splitlines()[-1]))
            if reps:
                table[candidate] = {
                    key: [round(statistics.median(r[key][i] for r in reps), 1) for i in (0, 1)] for key in reps[0]
                }
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"{args.count} commands each, pipelined windows of {args.window}, median of {args.reps} runs; "
          "microseconds per command: wall / client CPU")
    keys = sorted({k for row in table.values() for k in row})
    print("| candidate | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for candidate, row in table.items():
        cells = [f"{row[k][0]} / {row[k][1]}" if k in row else "" for k in keys]
        print(f"| {candidate} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "a", encoding="utf-8") as f:
            f.write(json.dumps({"count": args.count, "window": args.window, "reps": args.reps, "table": table}) + "\n")


if __name__ == "__main__":
    main()
