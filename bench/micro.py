#!/usr/bin/env python3
"""Fixed-work micro-benchmarks of rpsa's hot paths, each against what it replaces, in one process.

    PYTHONPATH=. python3 bench/micro.py [receive|write|burst|poll|http|game|all] [--repeat 7] [--n 20000]

Each case does the same work N times with the library's way and with rpsa's, and prints the best of
``--repeat`` runs in CPU µs per operation (``time.process_time``: other processes on the machine slow the
wall clock, much less the CPU time of this one), and the ratio.  The figures quoted in
``rpsa/play/fastpath.py`` and ``docs/performance.md`` come from here; the full-server effect is what
``bench/scenario.sh`` measures.

* receive: one player message (``{"type":"select_weapon","index":1}``, a masked text frame) through
  Autobahn's frame parser (``_dataReceived``) vs the lean receive path (``FastPathProtocol.dataReceived``),
  up to ``onMessage`` (which records it).
* write: a 150-byte frame to a connected TCP transport, then the reactor's write pass (``doWrite``, with the
  epoll registration it implies) vs ``write_now`` (straight to the socket).
* burst: a tick's three frames to one connection: one write each (rpsa before bursts; the "library"
  column) vs one :class:`rpsa.play.frames.Burst` write.
* poll: one ready-socket event handed to its handler inside ``log.callWithLogger`` vs directly (lean_poll).
* http: one ``POST /create_game`` and one ``POST /join_game`` through the daemon's own site (built by
  ``makeService``, its log observer writing to /dev/null) on an in-memory channel; rpsa's only.
* game: a game set up as loadgen does it (create, join, both players' WebSocket upgrades on the original's
  routes) through the daemon's own site, in memory; rpsa's only.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import socket
import sys
import time

from autobahn.twisted.websocket import WebSocketServerFactory
from twisted.internet import epollreactor, tcp
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Protocol
from twisted.internet.testing import StringTransport
from twisted.python import log as legacy_log

from rpsa.play import fastpath

MOVE = b'{"type":"select_weapon","index":1}'


def best_of(fn, n: int, repeat: int) -> float:
    """The best CPU µs per call of ``fn`` over ``repeat`` runs of ``n`` calls."""
    best = None
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(n):
            fn()
        took = (time.process_time() - start) / n
        best = took if best is None or took < best else best
    return best * 1e6


def report(name: str, library: float, ours: float) -> None:
    print(f"{name:<8} library {library:8.2f} µs   rpsa {ours:8.2f} µs   rpsa/library {ours / library:5.2f}")


# -- receive -------------------------------------------------------------------------------------


class _Counter(fastpath.FastPathProtocol):
    messages = 0

    def onConnect(self, request):
        return None

    def onMessage(self, payload, isBinary):
        self.messages += 1

    def message_too_big(self):
        return 4009, "too big"


def _open_protocol():
    factory = WebSocketServerFactory("ws://localhost:8080")
    factory.protocol = _Counter
    factory.setProtocolOptions(maxMessagePayloadSize=4096, maxFramePayloadSize=4096, autoPingInterval=0,
                               openHandshakeTimeout=0)
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    protocol.makeConnection(StringTransport())
    key = base64.b64encode(os.urandom(16)).decode()
    protocol.dataReceived(("GET / HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    return protocol


def _masked(payload: bytes, mask: bytes = b"\x37\xfa\x21\x3d") -> bytes:
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def bench_receive(n: int, repeat: int) -> None:
    protocol = _open_protocol()
    data = _masked(MOVE)
    library = best_of(lambda: protocol._dataReceived(data), n, repeat)
    ours = best_of(lambda: protocol.dataReceived(data), n, repeat)
    assert protocol.messages == 2 * n * repeat
    report("receive", library, ours)


# -- write ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _socket_transport():
    """A connected ``tcp.Server`` transport on a socket pair, and ``drain()``, which empties its peer.

    Its reactor is a real epoll reactor (registrations are real ``epoll_ctl`` calls), never run.
    """
    reactor = epollreactor.EPollReactor()
    ours_sock, peer = socket.socketpair()
    ours_sock.setblocking(False)
    peer.setblocking(False)
    transport = tcp.Server(ours_sock, Protocol(), ("127.0.0.1", 40000), None, 1, reactor)

    def drain():
        try:
            while peer.recv(1 << 16):
                pass
        except BlockingIOError:
            pass

    try:
        yield transport, drain
    finally:
        ours_sock.close()
        peer.close()
        reactor._poller.close()
        if reactor.waker is not None:
            reactor.waker.connectionLost(None)  # its pipe


def bench_write(n: int, repeat: int) -> None:
    frame = b"\x81\x7e\x00\x96" + b"x" * 150
    with _socket_transport() as (transport, drain):

        def library():
            transport.write(frame)
            transport.doWrite()  # what the reactor's next pass does, stopWriting included
            drain()

        def ours():
            fastpath.write_now(transport, frame)
            drain()

        report("write", best_of(library, n, repeat), best_of(ours, n, repeat))


# -- burst ---------------------------------------------------------------------------------------


def bench_burst(n: int, repeat: int) -> None:
    """A tick's three frames to one connection: a write each (rpsa before bursts) vs one Burst write."""
    from rpsa.play.frames import Burst, FramePreparer

    frames = [FramePreparer.prepare(b'{"type":"RPSRoundEvent","eventData":{"type":2}}'),
              FramePreparer.prepare(b'{"type":"sync","gameData":{"p1Health":100,"p2Health":75}}'),
              FramePreparer.prepare(b'{"type":"RPSRoundEvent","eventData":{"type":4}}')]
    with _socket_transport() as (transport, drain):

        def each():
            for frame in frames:
                fastpath.write_now(transport, frame.payloadHybi)
            drain()

        def burst():
            fastpath.write_now(transport, Burst(frames).payloadHybi)
            drain()

        report("burst", best_of(each, n, repeat), best_of(burst, n, repeat))


# -- poll ----------------------------------------------------------------------------------------


class _Selectable:
    def logPrefix(self):
        return "GameConnection,12,127.0.0.1"


def bench_poll(n: int, repeat: int) -> None:
    selectable = _Selectable()

    def handle(selectable, fd, event):
        return None

    report("poll", best_of(lambda: legacy_log.callWithLogger(selectable, handle, selectable, 5, 1), n, repeat),
           best_of(lambda: handle(selectable, 5, 1), n, repeat))


# -- http ----------------------------------------------------------------------------------------


def _daemon_site():
    """The daemon's own site, built by makeService as twistd would (its root app, lobby, metrics and redacting
    log observer, here writing to /dev/null) on a fresh epoll reactor that is never run (its timers only pile
    up, as the unconnected games' join timeouts do in the http scenario)."""
    from twisted.logger import globalLogBeginner
    from twisted.web.server import Site

    from rpsa.daemon.tap import Options, makeService

    reactor = epollreactor.EPollReactor()
    options = Options()
    options.parseOptions(["--listen", "tcp:18080:interface=127.0.0.1", "--max-games", "1000000000"])
    saved = sys.stdout
    sys.stdout = open(os.devnull, "w")  # the log observer writes to stdout without twistd
    try:
        top = makeService(options, reactor=reactor)
    finally:
        sys.stdout = saved
    globalLogBeginner.beginLoggingTo([top.log_observer], discardBuffer=True, redirectStandardIO=False)
    fastpath.tune_gc()  # as the daemon does at start
    site = next(s.factory for s in top if isinstance(getattr(s, "factory", None), Site))
    site.startFactory()
    return site


def bench_http(n: int, repeat: int) -> None:
    """Create+join pairs (the original's routes, as loadgen sends them) through the daemon's own site."""
    site = _daemon_site()
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = StringTransport()
    channel.makeConnection(transport)
    counter = iter(range(10 ** 12))

    def post(path: bytes, body: bytes) -> None:
        channel.dataReceived(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (path, len(body), body))

    def pair():
        i = next(counter)
        post(b"/create_game", b'{"gameId":"g%d","userId":"u%d","username":"U"}' % (i, i))
        post(b"/join_game", b'{"gameId":"g%d","userId":"v%d","username":"V"}' % (i, i))
        transport.clear()

    took = best_of(pair, n, repeat)
    assert b"gameToken" not in transport.value()  # cleared after each pair; answers were read above
    print(f"http     create+join pair {took:8.1f} µs (through the daemon's site, logging included)")


class _UpgradeTransport(StringTransport):
    """What Autobahn needs of a transport it takes over (an upgrade), in memory."""

    def unregisterProducer(self):
        self.producer = None

    def abortConnection(self):
        self.loseConnection()


def bench_game(n: int, repeat: int) -> None:
    """A game set up as loadgen does: create, join, then both players' WebSocket upgrades (the original's
    routes), through the daemon's own site; the connections stay open (the games never start)."""
    site = _daemon_site()
    http = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    http_transport = StringTransport()
    http.makeConnection(http_transport)
    counter = iter(range(10 ** 12))

    def post(path: bytes, body: bytes) -> str:
        http_transport.clear()
        http.dataReceived(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (path, len(body), body))
        return http_transport.value().rsplit(b'"gameToken":"', 1)[1].split(b'"', 1)[0].decode()

    def upgrade(token: str, user: str) -> None:
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40001))
        transport = _UpgradeTransport()
        transport.protocol = channel
        channel.makeConnection(transport)
        key = base64.b64encode(os.urandom(16))
        channel.dataReceived(b"GET /?game_token=%s&user_id=%s HTTP/1.1\r\nHost: 127.0.0.1:8085\r\n"
                             b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                             b"Sec-WebSocket-Version: 13\r\n\r\n" % (token.encode(), user.encode(), key))
        assert transport.value().startswith(b"HTTP/1.1 101"), transport.value()[:80]

    def game():
        i = next(counter)
        host = post(b"/create_game", b'{"gameId":"g%d","userId":"u%d","username":"U"}' % (i, i))
        guest = post(b"/join_game", b'{"gameId":"g%d","userId":"v%d","username":"V"}' % (i, i))
        upgrade(host, f"u{i}")
        upgrade(guest, f"v{i}")

    took = best_of(game, n, repeat)
    print(f"game     create+join+2 upgrades {took:8.1f} µs (through the daemon's site, logging included)")


CASES = {"receive": bench_receive, "write": bench_write, "burst": bench_burst, "poll": bench_poll,
         "http": bench_http, "game": bench_game}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Micro-benchmarks of rpsa's hot paths against the library's.")
    p.add_argument("case", nargs="?", default="all", choices=[*CASES, "all"])
    p.add_argument("--n", type=int, default=20000, help="operations per run")
    p.add_argument("--repeat", type=int, default=7, help="runs; the best is reported")
    a = p.parse_args(argv)
    for name, fn in CASES.items():
        if a.case in (name, "all"):
            fn(a.n if name not in ("http", "game") else max(1, a.n // 20), a.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
