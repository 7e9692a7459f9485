"""Fuzzing: hostile frame streams over real sockets against a live daemon (tests/support/fuzzing.py).

Each example connects to a fresh game (as its host or as a spectator), sends
a stream, then a probe message: the connection must be closed with the code
of the stream's first fatal input, or answer the probe.  A bystander game's
host stays connected the whole run and must still be answered at the end;
the daemon must log no traceback.  ``RPSA_FUZZ_EXAMPLES`` (default 150; a
quarter of it runs here, real sockets being slower) and ``RPSA_FUZZ_SEED`` as
for the other fuzz tests.
"""

import json
import os
import random
import sys
import urllib.request

from hypothesis import given, seed, settings, strategies as st
from twisted.internet import defer, threads

from tests.support import frames, fuzzing
from tests.support.frames import SocketPeer
from tests.support.process import DaemonTestCase

EXAMPLES = max(1, int(os.environ.get("RPSA_FUZZ_EXAMPLES", "150")) // 4)
SEED = int(os.environ.get("RPSA_FUZZ_SEED") or random.SystemRandom().randrange(2 ** 32))
PROBE = {"type": "probe"}


class FuzzWebSocketTests(DaemonTestCase):

    timeout = 600

    def http(self, method, path, body=None):
        request = urllib.request.Request(f"{self.daemon.url}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def run_examples(self):
        bystander_game = self.http("POST", "/api/games", {"user_id": "by", "username": "By", "game_id": "bystander"})
        bystander = SocketPeer(self.daemon.port, f"/api/games/bystander/ws?token={bystander_game['player_token']}")
        counter = iter(range(10 ** 6))

        @seed(SEED)
        @settings(max_examples=EXAMPLES, deadline=None, database=None)
        @given(st.sampled_from(["host", "spectator"]), fuzzing.streams())
        def check(role, stream):
            game_id = f"fuzz{next(counter)}"
            seat = self.http("POST", "/api/games", {"user_id": "host", "username": "Host", "game_id": game_id})
            path = f"/api/games/{game_id}/ws" + (f"?token={seat['player_token']}" if role == "host" else "")
            peer = SocketPeer(self.daemon.port, path)
            try:
                assert peer.status == 101, peer.status
                peer.read_until(lambda: peer.of_type("welcome"))
                for item in stream:
                    peer.send(item.data)
                peer.send(frames.text(PROBE))
                peer.read_until(lambda: peer.close_code is not None or any(
                    m.get("type") == "error" and m.get("code") == "unknown_type" and "probe" in m["message"]
                    for m in peer.messages), 10)
                expected = fuzzing.expected_close(stream)
                dropped = peer.close_code is None and peer.eof and fuzzing.may_drop(stream)
                assert peer.close_code == expected or dropped, (peer.close_code, expected, stream)
            finally:
                peer.close()
                self.http("DELETE", f"/api/games/{game_id}")

        try:
            check()
            bystander.send(frames.text(PROBE))
            answered = bystander.read_until(lambda: any(m.get("type") == "error" for m in bystander.messages), 5)
            return answered, bystander.close_code
        finally:
            bystander.close()

    @defer.inlineCallbacks
    def test_streams(self):
        replay = f"RPSA_FUZZ_SEED={SEED} RPSA_FUZZ_EXAMPLES={EXAMPLES * 4}"
        print(f"\nwebsocket fuzz over sockets: seed {SEED}, {EXAMPLES} examples ({replay})", file=sys.__stderr__)
        try:
            answered, closed = yield threads.deferToThread(self.run_examples)
        except Exception as e:
            self.fail(f"{e!r}\nreplay: {replay}")
        self.assertEqual((answered, closed), (True, None), "the bystander game was affected")
        self.assertNotIn("Traceback", self.daemon.log)
        self.assertNotIn("Unhandled", self.daemon.log)
