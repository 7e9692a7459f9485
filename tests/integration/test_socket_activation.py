"""Integration: the real ``twistd -n rpsa`` on a socket inherited the way systemd passes it.

``systemd-socket-activate`` (Debian's ``systemd`` package; ``.ci/run``
installs it) binds the listening socket, then execs twistd with
``LISTEN_FDS``/``LISTEN_FDNAMES`` set, as ``rpsa.socket`` does for
``rpsa.service``; rpsa adopts it with ``--listen systemd:domain=INET:name=rpsa``.
Without ``systemd-socket-activate`` the test fails rather than skips.
"""

import shutil

from twisted.internet import defer, reactor

from tests.support.process import Daemon, DaemonTestCase
from tests.support.wsclient import connect, of_type, start_match

GAME_COMPLETE = 1
FDNAME = "rpsa"
ENDPOINT = f"systemd:domain=INET:name={FDNAME}"


class SocketActivatedDaemon(Daemon):
    """``systemd-socket-activate -l 127.0.0.1:PORT --fdname=rpsa twistd -n rpsa --listen systemd:...``."""

    def __init__(self, reactor, activate, args):
        self._activate = activate
        super().__init__(reactor, args)

    def endpoint(self):
        return ENDPOINT

    def command(self, twistd_argv, env):
        # systemd-socket-activate passes on only PATH, HOME, USER and TERM, and what -E names.
        argv = [self._activate, "-l", f"127.0.0.1:{self.port}", f"--fdname={FDNAME}",
                "-E", f"PYTHONPATH={env['PYTHONPATH']}", *twistd_argv]
        return self._activate, argv


class SocketActivationTests(DaemonTestCase):
    """rpsa serves HTTP and WebSocket play on a socket it did not open."""


    def make_daemon(self):
        activate = shutil.which("systemd-socket-activate")
        if activate is None:
            self.fail("systemd-socket-activate not found: install it with "
                      "`apt-get update && apt-get install -y --no-install-recommends systemd` (.ci/run does)")
        # A systemd: listener counts as exposed: --dev allows it without an API key.
        return SocketActivatedDaemon(reactor, activate, ["--tick", "0.02", "--dev"])

    @defer.inlineCallbacks
    def test_healthz_on_inherited_socket(self):
        """/healthz answers through the socket systemd-socket-activate bound and passed as fd 3."""
        status, _ = yield self.daemon.request("GET", "/healthz")
        self.assertEqual(status, 200)
        # The port is systemd-socket-activate's: twistd could not have bound it too.
        self.assertIn(f"Listening on 127.0.0.1:{self.daemon.port} as 3.", self.daemon.log)

    @defer.inlineCallbacks
    def test_match_through_inherited_socket(self):
        """A whole match, API calls and WebSockets alike, runs through the inherited socket."""
        status, created = yield self.daemon.request("POST", "/api/games", {"user_id": "alice", "username": "Alice"})
        self.assertEqual(status, 201)
        status, joined = yield self.daemon.request(
            "POST", f"/api/games/{created['game_id']}/players", {"user_id": "bob", "username": "Bob"})
        self.assertEqual(status, 201)
        self.assertTrue(created["ws_url"].startswith(self.daemon.ws_base), created["ws_url"])

        host = yield connect(reactor, created["ws_url"])
        yield host.wait_for(of_type("player_joined"))
        guest = yield connect(reactor, joined["ws_url"])
        yield guest.wait_for(of_type("player_joined"))
        # Rock (host) beats scissors (guest) on every weapon countdown.
        start_match([(host, "aru"), (guest, "mai")], throws=(0, 2))
        complete = yield host.wait_for(of_type("RPSGameEvent", event=GAME_COMPLETE))
        codes = yield defer.gatherResults([host.closed, guest.closed])

        self.assertEqual(complete["eventData"]["data"], {"winnerId": "alice", "loserId": "bob"})
        self.assertEqual(codes, [1000, 1000])
        status, _ = yield self.daemon.request("GET", f"/api/games/{created['game_id']}")
        self.assertEqual(status, 404)
