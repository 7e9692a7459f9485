"""Integration: a real daemon against hostile clients on real sockets (issue 10's findings).

Slowloris (a byte a second), clients that never read, ping floods, too many
connections from one address, memory that must come back once connections
close, and match children that stop answering (SIGSTOP).  Blocking sockets run
in a thread (``deferToThread``) so the reactor keeps reading the daemon's
output.  Every wait is a bounded loop; every process started is stopped.
"""

import json
import os
import re
import signal
import socket
import sys
import time

import treq
from twisted.internet import defer, reactor, task, threads
from twisted.trial.unittest import TestCase

from tests.support import frames
from tests.support.frames import SocketPeer
from tests.support.process import Daemon, DaemonTestCase, free_port_range, process_gone

MIB = 1024 * 1024


def rss(pid):
    """The resident set size of ``pid``, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024


def children(pid):
    """The pids of ``pid``'s children."""
    found = []
    for task_id in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task_id}/children") as f:
            found += [int(p) for p in f.read().split()]
    return found


def sleep(seconds):
    return task.deferLater(reactor, seconds, lambda: None)


def closed_by_server(sock, seconds):
    """Whether the server closes ``sock`` within ``seconds`` (read and discard until EOF or reset)."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def trickle(port, first, rest, seconds, every=0.2):
    """Send ``first``, then ``rest`` one byte every ``every`` s; True if the server closed within ``seconds``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(first)
        sock.settimeout(every)
        deadline = time.monotonic() + seconds
        for byte in rest:
            if time.monotonic() > deadline:
                return False
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(65536) == b"":
                    return True
            except socket.timeout:
                continue
            except OSError:
                return True
        return closed_by_server(sock, max(0.0, deadline - time.monotonic()))
    finally:
        sock.close()


class HostileDaemonTestCase(DaemonTestCase):

    @defer.inlineCallbacks
    def metric(self, name, **labels):
        """The value of one sample of /metrics (0 if absent)."""
        response = yield treq.get(f"{self.daemon.url}/metrics", persistent=False)
        text = (yield response.content()).decode()
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith(name + ("{" + wanted + "}" if labels else " ")):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    @defer.inlineCallbacks
    def create_game(self, game_id, user_id="alice"):
        status, answer = yield self.daemon.request("POST", "/api/games",
                                                   {"user_id": user_id, "username": user_id.title(), "game_id": game_id})
        self.assertEqual(status, 201, answer)
        return answer


class SlowlorisTests(HostileDaemonTestCase):
    """Deadlines for the request line and headers, the body, and the WebSocket opening handshake."""

    daemon_args = ("--header-timeout", "1", "--body-timeout", "1")

    @defer.inlineCallbacks
    def test_headers(self):
        closed = yield threads.deferToThread(trickle, self.daemon.port, b"GET /healthz HTTP/1.1\r\n",
                                             b"X-Slow: " + b"a" * 200, 8)
        self.assertTrue(closed, "a request whose headers trickle in is still held")

    @defer.inlineCallbacks
    def test_websocket_handshake(self):
        yield self.create_game("g1")
        closed = yield threads.deferToThread(trickle, self.daemon.port, b"GET /api/games/g1/ws HTTP/1.1\r\n",
                                             b"Upgrade: websocket\r\nConnection: Upgrade\r\n" + b"X: " + b"a" * 200, 8)
        self.assertTrue(closed, "an opening handshake that trickles in is still held")

    @defer.inlineCallbacks
    def test_body(self):
        head = (b"POST /api/games HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 300\r\n\r\n")
        closed = yield threads.deferToThread(trickle, self.daemon.port, head,
                                             b'{"user_id": "u", "username": "U", "game_id": "slow"' + b" " * 250, 8)
        self.assertTrue(closed, "a request whose body trickles in is still held")
        status, _ = yield self.daemon.request("GET", "/api/games/slow")
        self.assertEqual(status, 404)

    @defer.inlineCallbacks
    def test_a_quick_client_is_served(self):
        status, _ = yield self.daemon.request("GET", "/healthz")
        self.assertEqual(status, 200)


class SlowReaderTests(HostileDaemonTestCase):
    """A client that never reads: past --max-send-buffer it is closed and counted."""

    daemon_args = ("--max-messages-per-second", "5000", "--max-send-buffer", "65536")

    @defer.inlineCallbacks
    def test_never_reading(self):
        yield self.create_game("g1")

        def flood():
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(5)
            sock.connect(("127.0.0.1", self.daemon.port))
            sock.sendall(frames.handshake("/api/games/g1/ws"))
            ping = frames.frame(frames.PING, b"p" * 125)
            deadline = time.monotonic() + 20
            sent = 0
            try:
                while time.monotonic() < deadline:
                    sock.sendall(ping * 50)
                    sent += 50
                    time.sleep(0.01)
            except OSError:
                pass
            finally:
                sock.close()
            return sent

        sent = yield threads.deferToThread(flood)
        self.assertLess(sent, 20 * 5000, "the daemon kept a reader that never reads")
        dropped = yield self.metric("rpsa_connections_dropped_total", reason="slow_reader")
        self.assertGreaterEqual(dropped, 1)


class PingFloodTests(HostileDaemonTestCase):
    """One spectator that never reads sends pings as fast as it can: closed at the rate limit, memory bounded."""

    @defer.inlineCallbacks
    def test_flood(self):
        yield self.create_game("g1")
        before = rss(self.daemon.process.pid)

        def flood():
            peer = SocketPeer(self.daemon.port, "/api/games/g1/ws")
            burst = frames.frame(frames.PING, b"p" * 125) * 1000
            for _ in range(200):  # up to 200 000 pings, never reading more than a glance
                peer.send(burst)
                if peer.eof or peer.read_until(lambda: peer.close_code is not None, 0.01):
                    break
            peer.read_until(lambda: peer.close_code is not None, 10)
            peer.close()
            return peer.close_code

        code = yield threads.deferToThread(flood)
        self.assertEqual(code, 4103)
        self.assertLess(rss(self.daemon.process.pid) - before, 20 * MIB)


class PerAddressTests(HostileDaemonTestCase):
    """--max-connections-per-address bounds what one address holds."""

    daemon_args = ("--max-connections-per-address", "4")

    @defer.inlineCallbacks
    def test_limit(self):
        yield self.create_game("g1")

        def connect_many():
            held = [SocketPeer(self.daemon.port, "/api/games/g1/ws") for _ in range(4)]
            statuses = [peer.status for peer in held]
            extra = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=5)
            extra.sendall(frames.handshake("/api/games/g1/ws"))
            refused = closed_by_server(extra, 5)
            extra.close()
            held.pop().close()
            time.sleep(0.5)
            again = SocketPeer(self.daemon.port, "/api/games/g1/ws")
            result = (statuses, refused, again.status)
            for peer in held + [again]:
                peer.close()
            return result

        statuses, refused, again = yield threads.deferToThread(connect_many)
        self.assertEqual(statuses, [101, 101, 101, 101])
        self.assertTrue(refused)
        self.assertEqual(again, 101)
        dropped = yield self.metric("rpsa_connections_dropped_total", reason="per_address")
        self.assertGreaterEqual(dropped, 1)


class MemoryComesBackTests(HostileDaemonTestCase):
    """A soak: RSS returns within 10 % of its baseline once the load ends."""

    daemon_args = ("--max-messages-per-second", "1000")

    @defer.inlineCallbacks
    def load(self, rounds, connections):
        for n in range(rounds):
            yield self.create_game(f"soak{n}")

            def hold(game=f"soak{n}"):
                peers = [SocketPeer(self.daemon.port, f"/api/games/{game}/ws") for _ in range(connections)]
                for peer in peers:
                    peer.send(frames.frame(frames.PING, b"p" * 125) * 200)
                for peer in peers:
                    peer.read_until(lambda peer=peer: peer.pongs >= 200, 10)
                    peer.send(frames.close_frame(1000))
                    peer.read_until(lambda peer=peer: peer.close_code is not None, 5)
                    peer.close()

            yield threads.deferToThread(hold)
            yield self.daemon.request("DELETE", f"/api/games/soak{n}")

    @defer.inlineCallbacks
    def test_soak(self):
        pid = self.daemon.process.pid
        yield self.load(2, 20)  # warm up: imports, caches, the allocator's first arenas
        yield sleep(2)
        baseline = rss(pid)
        yield self.load(10, 100)
        peak = rss(pid)
        waited = 0.0
        for _ in range(60):  # at most 30 s
            if rss(pid) <= baseline * 1.1:
                break
            yield sleep(0.5)
            waited += 0.5
        print(f"\nsoak: baseline {baseline / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB, "
              f"{rss(pid) / MIB:.1f} MiB {waited:.1f} s after the load", file=sys.__stderr__)
        self.assertLessEqual(rss(pid), baseline * 1.1,
                             f"baseline {baseline / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB, "
                             f"after {rss(pid) / MIB:.1f} MiB")


class HungChildTestCase(TestCase):
    """A daemon whose children are checked every 0.5 s; children a test stops are killed at the end."""

    timeout = 120
    warm = 0

    @defer.inlineCallbacks
    def setUp(self):
        low, high = free_port_range(3)
        self.ports = (low, high)
        self.daemon = Daemon(reactor, ["--match-ports", f"{low}-{high}", "--match-heartbeat", "0.5",
                                       "--warm-matches", str(self.warm), "--match-join-timeout", "60",
                                       "--launch-timeout", "45"])  # a loaded CI machine starts children slowly
        self.stopped = []
        self.addCleanup(self._stop)
        yield self.daemon.ready()

    @defer.inlineCallbacks
    def _stop(self):
        for pid in self.stopped:
            if not process_gone(pid):
                os.kill(pid, signal.SIGKILL)
        if not self.daemon.proto.ended.called:
            yield self.daemon.stop()

    def freeze(self, pid):
        os.kill(pid, signal.SIGSTOP)
        self.stopped.append(pid)

    @defer.inlineCallbacks
    def put_match(self, match_id):
        """PUT /api/match, waiting as long as the launch may take: ``(status, answer)``."""
        body = {"match_id": match_id, "players": [{"user_id": "a", "username": "A"}, {"user_id": "b", "username": "B"}]}
        response = yield treq.request("PUT", f"{self.daemon.url}/api/match", json=body, timeout=60, persistent=False)
        answer = yield response.json()
        return response.code, answer


class HungChildTests(HungChildTestCase):
    """A match child that stops answering (SIGSTOP) is treated like a dead one: failed, stopped, port freed."""

    @defer.inlineCallbacks
    def test_stopped_match_child(self):
        status, answer = yield self.put_match("m1")
        self.assertEqual(status, 201, answer)
        _, record = yield self.daemon.request("GET", "/api/match/m1")
        self.freeze(record["pid"])
        for _ in range(100):  # at most 10 s
            _, record = yield self.daemon.request("GET", "/api/match/m1")
            if record["state"] not in ("starting", "waiting", "playing"):
                break
            yield sleep(0.1)
        self.assertEqual((record["state"], record.get("reason")), ("failed", "unresponsive"), record)
        for _ in range(100):
            if process_gone(record["pid"]):
                break
            yield sleep(0.1)
        self.assertTrue(process_gone(record["pid"]), "the hung child was not stopped")
        with socket.socket() as s:
            s.bind(("127.0.0.1", answer["port"]))  # its port is free again


class HungWarmChildTests(HungChildTestCase):
    """A stopped warm child is not handed a match."""

    warm = 1

    @defer.inlineCallbacks
    def test_stopped_warm_child(self):
        warm = []
        for _ in range(100):
            warm = children(self.daemon.process.pid)
            if warm:
                break
            yield sleep(0.1)
        self.assertEqual(len(warm), 1)
        yield sleep(1)  # the warm child has reported its port by now
        self.freeze(warm[0])
        yield sleep(2)
        status, answer = yield self.put_match("m2")
        self.assertEqual(status, 201, answer)
        _, record = yield self.daemon.request("GET", "/api/match/m2")
        self.assertNotEqual(record["pid"], warm[0], "a stopped warm child was handed the match")

        def welcomed():
            peer = SocketPeer(answer["port"], "/ws", timeout=5)
            peer.read_until(lambda: peer.messages, 5)
            peer.close()
            return [m["type"] for m in peer.messages]

        messages = yield threads.deferToThread(welcomed)
        self.assertEqual(messages[:1], ["welcome"])
