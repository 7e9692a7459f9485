"""Property-based: hostile frame streams against a game's WebSocket, in memory, at every game state.

For any stream (tests/support/fuzzing.py), sent by a player or a spectator of
a game that is waiting, picking fighters, or playing: nothing is logged as an
error, the connection is closed with the documented code of the stream's first
fatal input (or stays open), every message the server sends conforms to the
ServerMessage schema, and another game on the same server carries on.

``RPSA_FUZZ_EXAMPLES`` (default 150) and ``RPSA_FUZZ_SEED`` replay or lengthen a
run; the seed is in the failure message.
"""

import json
import os
import random

from autobahn.twisted.testing import MemoryReactorClockResolver
from hypothesis import given, seed, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase
from txaio.testutil import replace_loop

from rpsa.contract import messages
from tests.play.fakes import make_lobby
from tests.support import fuzzing
from tests.support.frames import MemoryPeer, text

EXAMPLES = int(os.environ.get("RPSA_FUZZ_EXAMPLES", "150"))
SEED = int(os.environ.get("RPSA_FUZZ_SEED") or random.SystemRandom().randrange(2 ** 32))
STATES = ("waiting", "picking", "playing")


class Servers:
    """A lobby with the fuzzed game (g1) and a bystander game (g2), both with their players connected."""

    def __init__(self, state):
        self.reactor = MemoryReactorClockResolver()
        self.lobby, self.settings, _ = make_lobby(self.reactor)
        self.ports = iter(range(50000, 60000))
        self.games = {}
        for game_id in ("g1", "g2"):
            session, host = self.lobby.create(f"{game_id}-a", "A", game_id=game_id)
            _, guest = self.lobby.join(game_id, f"{game_id}-b", "B")
            peers = [self.peer(session, host.token)]
            if state != "waiting":
                peers.append(self.peer(session, guest.token))
            if state == "playing":
                for peer, fighter in zip(peers, ("aru", "mai")):
                    peer.send(text({"type": "select_fighter", "characterId": fighter}))
                    peer.send(text({"type": "start_battle"}))
            self.games[game_id] = (session, peers, guest)

    def peer(self, session, token=None):
        path = "/api/games/x/ws" + (f"?token={token}" if token else "")
        return MemoryPeer(self.lobby.factory(session.game_id), path, port=next(self.ports))


class FuzzTests(SynchronousTestCase):

    def test_streams(self):
        @seed(SEED)
        @settings(max_examples=EXAMPLES, deadline=None, database=None)
        @given(st.sampled_from(STATES), st.sampled_from(["spectator", "player"]), fuzzing.streams())
        def check(state, role, stream):
            self.check_stream(state, role, stream)

        try:
            check()
        except Exception as e:
            raise self.failureException(f"{e}\nreplay: RPSA_FUZZ_SEED={SEED} RPSA_FUZZ_EXAMPLES={EXAMPLES}") from e

    def check_stream(self, state, role, stream):
        with replace_loop(MemoryReactorClockResolver()):
            servers = Servers(state)
            session, peers, guest = servers.games["g1"]
            if role == "player" and state == "waiting":
                fuzzed = servers.peer(session, guest.token)
            else:
                fuzzed = servers.peer(session) if role == "spectator" else peers[-1]
            for item in stream:
                fuzzed.send(item.data)
            for _ in range(50):  # 5 s: close handshakes end, timers run
                servers.reactor.advance(0.1)
                for peer in [fuzzed, *peers, *servers.games["g2"][1]]:
                    peer.poll()
            self.assertEqual(self.flushLoggedErrors(), [])
            expected = fuzzing.expected_close(stream)
            self.assertEqual(fuzzed.close_code, expected, stream)
            for message in fuzzed.messages:
                messages.check_server_message(json.dumps(message).encode())
            # The bystander game: still open, and answering.
            _, bystanders, _ = servers.games["g2"]
            host = bystanders[0]
            before = len(host.of_type("error"))
            host.send(text({"type": "select_weapon", "index": 9}))
            self.assertIsNone(host.close_code)
            self.assertEqual(len(host.of_type("error")), before + 1)
