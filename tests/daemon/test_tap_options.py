"""``twistd rpsa`` options (rpsa.daemon.tap.Options), listener locality (rpsa.daemon.listeners) and makeService."""

import io
import signal
import sys

from treq.testing import StubTreq
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet import endpoints
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.systemd import ListenFDs
from twisted.trial.unittest import SynchronousTestCase

from rpsa.daemon import tap
from rpsa.daemon.listeners import is_local, split_endpoint
from rpsa.play.settings import GameSettings
from rpsa.site import BoundedRequest

LOOPBACK = "tcp:8080:interface=127.0.0.1"
SYSTEMD = "systemd:domain=INET:index=0"


def parse(*argv):
    """Options parsed from ``argv``."""
    options = tap.Options()
    options.parseOptions(list(argv))
    return options


class OptionsTestCase(SynchronousTestCase):
    """Helpers for option tests."""

    def assertUsageError(self, argv, *needles):
        """Parsing ``argv`` raises UsageError whose message holds every needle."""
        error = self.assertRaises(usage.UsageError, parse, *argv)
        for needle in needles:
            self.assertIn(needle, str(error))
        return error

    def key_file(self, content):
        """A temporary file holding ``content`` (bytes); its path."""
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(content)
        return path


class DefaultTests(OptionsTestCase):
    """Options given nothing."""

    def test_defaults(self):
        """Every option has its documented default."""
        options = parse()
        self.assertEqual(options["listen"], [tap.DEFAULT_LISTEN])
        self.assertEqual(tap.DEFAULT_LISTEN, "tcp:8080:interface=127.0.0.1")
        expected = {
            "tick": 1.0, "public-url": None, "api-key-file": None, "api-key": None,
            "max-games": 10000, "join-timeout": 60.0, "reconnect-grace": 10.0,
            "max-spectators": 100, "max-message-bytes": 4096, "max-messages-per-second": 20,
        }
        self.assertEqual({name: options[name] for name in expected}, expected)
        self.assertFalse(options["dev"])
        self.assertEqual(options["match-ports"], (9000, 9099))
        self.assertEqual(options.child_config()["ports"], [9000, 9099])

    def test_game_settings(self):
        """The per-game options become the GameSettings of every game."""
        options = parse("--tick", "0.5", "--join-timeout", "30", "--reconnect-grace", "0",
                        "--max-spectators", "0", "--max-message-bytes", "64", "--max-messages-per-second", "5")
        self.assertEqual(options.game_settings(), GameSettings(
            tick=0.5, join_timeout=30.0, reconnect_grace=0.0, max_spectators=0,
            max_message_bytes=64, max_messages_per_second=5,
        ))

    def test_numeric_types(self):
        """Integer options parse to int and time options to float."""
        options = parse("--max-games", "7", "--tick", "2")
        self.assertEqual((type(options["max-games"]), type(options["tick"])), (int, float))


class ListenTests(OptionsTestCase):
    """--listen."""

    def test_repeatable(self):
        """--listen may be given several times; every endpoint is kept, in order."""
        options = parse("--listen", LOOPBACK, "--listen", "unix:/tmp/rpsa.sock",
                        "--listen", "tcp:8081:interface=127.0.0.1")
        self.assertEqual(options["listen"], [LOOPBACK, "unix:/tmp/rpsa.sock", "tcp:8081:interface=127.0.0.1"])

    def test_not_shared_between_instances(self):
        """One Options' listeners do not leak into the next."""
        parse("--listen", "unix:/tmp/a.sock")
        self.assertEqual(parse()["listen"], [tap.DEFAULT_LISTEN])

    def test_checked_without_a_reactor(self):
        """Checking an endpoint hands the parser a stand-in, never the global reactor."""
        given = []

        def server_from_string(reactor, description):
            given.append(reactor)
            self.assertRaises(AttributeError, getattr, reactor, "listenTCP")

        self.patch(endpoints, "serverFromString", server_from_string)
        parse("--listen", LOOPBACK)
        self.assertEqual(len(given), 1)

    def test_invalid_endpoint(self):
        """An endpoint string Twisted cannot parse is a UsageError naming --listen."""
        for bad in ("bogus:1", "tcp:notaport", "tcp", ""):
            self.assertUsageError(["--listen", bad], "--listen")


class NumericOptionTests(OptionsTestCase):
    """Every numeric option refuses a bad value, naming the option."""

    BAD = {
        "tick": ("x", "0", "-1", "nan", "0.0009"),
        "max-games": ("x", "0", "1.5", "-3"),
        "join-timeout": ("x", "0", "-1", "nan"),
        "reconnect-grace": ("x", "-0.1", "nan"),
        "max-spectators": ("x", "-1", "2.5"),
        "max-message-bytes": ("x", "63", "0"),
        "max-messages-per-second": ("x", "0", "1.5"),
    }

    def test_bad_values(self):
        """Each bad value is a UsageError whose message names its option."""
        for name, values in self.BAD.items():
            for value in values:
                self.assertUsageError([f"--{name}", value], f"--{name}")

    def test_lowest_values(self):
        """The smallest allowed value of each option is accepted."""
        lowest = {
            "tick": 0.001, "max-games": 1, "join-timeout": 0.001, "reconnect-grace": 0,
            "max-spectators": 0, "max-message-bytes": 64, "max-messages-per-second": 1,
        }
        argv = [arg for name, value in lowest.items() for arg in (f"--{name}", str(value))]
        options = parse(*argv)
        self.assertEqual({name: options[name] for name in lowest}, lowest)


class PublicURLTests(OptionsTestCase):
    """--public-url."""

    def test_valid(self):
        """http(s) and ws(s) URLs alike (issue 12), with a port or a path prefix, are kept as given."""
        for url in ("https://games.example.com", "http://games.example.com:8000", "https://example.com/rpsa/",
                    "wss://games.example.com/n/1", "ws://games.example.com:8000"):
            self.assertEqual(parse("--public-url", url)["public-url"], url)

    def test_invalid(self):
        """Another scheme, no host, a query, a fragment or a bad port is a UsageError naming it."""
        bad = (
            "ftp://games.example.com", "wsx://games.example.com", "games.example.com", "https://",
            "https://games.example.com/?x=1", "https://games.example.com/#top",
            "https://games.example.com:port", "https://games.example.com:70000",
        )
        for url in bad:
            self.assertUsageError(["--public-url", url], "--public-url")


class APIKeyFileTests(OptionsTestCase):
    """--api-key-file."""

    def test_read_and_stripped(self):
        """The key is the file's content without surrounding whitespace."""
        options = parse("--api-key-file", self.key_file(b"  \tk3y with inner space\r\n\n"))
        self.assertEqual(options["api-key"], "k3y with inner space")

    def test_missing_file(self):
        """A file that cannot be read is a UsageError naming --api-key-file."""
        self.assertUsageError(["--api-key-file", self.mktemp()], "--api-key-file")

    def test_empty_file(self):
        """An empty (or all-whitespace) file is a UsageError naming --api-key-file."""
        for content in (b"", b" \n\t\n"):
            self.assertUsageError(["--api-key-file", self.key_file(content)], "--api-key-file", "empty")

    def test_not_utf8(self):
        """A key that is not UTF-8 is a UsageError naming --api-key-file."""
        self.assertUsageError(["--api-key-file", self.key_file(b"\xff\xfe")], "--api-key-file")


class OpenAPITests(OptionsTestCase):
    """Without a key the API may only listen where only this host can reach it."""

    EXPOSED = ("tcp:8080", "tcp:8080:interface=0.0.0.0", "tcp6:8080", SYSTEMD,
               "tcp:8080:interface=192.0.2.1", "tcp:8080:interface=127.example.com")
    LOCAL = (LOOPBACK, "tcp:8080:interface=127.1.2.3", r"tcp6:8080:interface=\:\:1",
             "tcp:8080:interface=localhost", "unix:/tmp/rpsa.sock")

    def setUp(self):
        # A systemd endpoint parses only when a descriptor was inherited.
        self.patch(endpoints._SystemdParser, "_sddaemon", ListenFDs([3]))

    def test_refused(self):
        """Each non-loopback listener is refused, the message naming it and the cause."""
        for description in self.EXPOSED:
            self.assertUsageError(["--listen", description], description, "open API", "--api-key-file")

    def test_refusal_names_only_exposed(self):
        """With a local and an exposed listener, only the exposed one is named."""
        error = self.assertUsageError(["--listen", LOOPBACK, "--listen", "tcp:9000"], "tcp:9000")
        self.assertNotIn(LOOPBACK, str(error))

    def test_local_allowed(self):
        """Loopback addresses, localhost and unix sockets may serve an open API."""
        for description in self.LOCAL:
            self.assertEqual(parse("--listen", description)["listen"], [description])

    def test_dev_allows(self):
        """--dev allows an open API anywhere."""
        for description in self.EXPOSED:
            self.assertTrue(parse("--dev", "--listen", description)["dev"])

    def test_key_allows(self):
        """With a key any listener is allowed."""
        key_file = self.key_file(b"secret\n")
        for description in self.EXPOSED:
            self.assertEqual(parse("--api-key-file", key_file, "--listen", description)["api-key"], "secret")


class ListenerTests(SynchronousTestCase):
    """rpsa.daemon.listeners."""

    def test_split_endpoint(self):
        """Kind (lowercased), positional arguments and keywords, with backslash escapes."""
        self.assertEqual(split_endpoint(r"TCP6:8080:interface=\:\:1:backlog=5"),
                         ("tcp6", ["8080"], {"interface": "::1", "backlog": "5"}))
        self.assertEqual(split_endpoint("unix:/tmp/a.sock"), ("unix", ["/tmp/a.sock"], {}))
        self.assertEqual(split_endpoint(r"unix:C\:\\dir"), ("unix", [r"C:\dir"], {}))
        self.assertEqual(split_endpoint("ssl:443:privateKey=k=v.pem"), ("ssl", ["443"], {"privateKey": "k=v.pem"}))

    def test_local(self):
        """Loopback TCP/TLS interfaces, localhost and unix sockets are local."""
        local = ("tcp:1:interface=127.0.0.1", "tcp:1:interface=127.255.0.9", "ssl:443:interface=127.0.0.1",
                 r"tcp6:1:interface=\:\:1", r"tcp6:1:interface=0\:0\:0\:0\:0\:0\:0\:1",
                 "tcp:1:interface=LocalHost", "unix:/run/rpsa.sock", "UNIX:/run/rpsa.sock")
        self.assertEqual([d for d in local if not is_local(d)], [])

    def test_not_local(self):
        """Wildcard, public and unknown interfaces, systemd sockets and names like 127.x.example are not."""
        exposed = ("tcp:1", "tcp:1:interface=0.0.0.0", r"tcp6:1:interface=\:\:", "tcp6:1",
                   "tcp:1:interface=10.0.0.1", "tcp:1:interface=127.evil.example", "ssl:443",
                   SYSTEMD, "systemd:domain=UNIX:name=rpsa", "tcp:1:interface=")
        self.assertEqual([d for d in exposed if is_local(d)], [])


class MakeServiceTests(SynchronousTestCase):
    """makeService builds one listening service per --listen on the given reactor."""

    def setUp(self):
        # Stopping the tree may install the drain's signal handlers: restore ours after.
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.addCleanup(signal.signal, signum, signal.getsignal(signum))

    def start(self, *argv):
        """Build the tree from ``argv`` on a memory reactor and start it; (reactor, tree)."""
        reactor = MemoryReactorClock()
        top = tap.makeService(parse(*argv), reactor=reactor)
        top.startService()
        self.addCleanup(lambda: self.successResultOf(top.stopService()))
        return reactor, top

    def test_one_service_per_listen(self):
        """Each --listen is one endpoint service; starting the tree listens on each."""
        reactor, top = self.start("--listen", LOOPBACK, "--listen", "tcp:8081:interface=127.0.0.2",
                                  "--listen", "unix:/tmp/rpsa-test.sock")
        self.assertIsInstance(top, MultiService)
        listeners = [child for child in top if isinstance(child, StreamServerEndpointService)]
        self.assertEqual(len(listeners), 3)
        self.assertEqual([(port, interface) for port, _, _, interface in reactor.tcpServers],
                         [(8080, "127.0.0.1"), (8081, "127.0.0.2")])
        self.assertEqual([server[0] for server in reactor.unixServers], ["/tmp/rpsa-test.sock"])

    def test_default_listener(self):
        """Without --listen the tree listens on 127.0.0.1:8080 only."""
        reactor, top = self.start()
        self.assertEqual([(s[0], s[3]) for s in reactor.tcpServers], [(8080, "127.0.0.1")])
        self.assertEqual(len([c for c in top if isinstance(c, StreamServerEndpointService)]), 1)

    def test_stop(self):
        """Stopping the tree stops every listening service."""
        reactor = MemoryReactorClock()
        top = tap.makeService(parse("--listen", LOOPBACK, "--listen", "unix:/tmp/rpsa-test.sock"), reactor=reactor)
        top.startService()
        self.successResultOf(top.stopService())
        listeners = [child for child in top if isinstance(child, StreamServerEndpointService)]
        self.assertEqual([child.running for child in listeners], [False, False])

    def test_api_key_redacted(self):
        """The key read from --api-key-file never reaches the log the tree hands twistd."""
        key_file = self.mktemp()
        with open(key_file, "w") as f:
            f.write("k3y-never-logged\n")
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        top = tap.makeService(parse("--api-key-file", key_file), reactor=MemoryReactorClock())
        Logger(observer=top.log_observer).info("the key is {k}", k="k3y-never-logged")
        self.assertIn("the key is", out.getvalue())
        self.assertNotIn("k3y-never-logged", out.getvalue())

    def test_site_serves_the_api(self):
        """The listening factory is a bounded-body Site whose resource answers /healthz."""
        reactor, _ = self.start()
        site = reactor.tcpServers[0][1]
        self.assertIs(site.requestFactory, BoundedRequest)
        stub = StubTreq(site.resource)
        response = self.successResultOf(stub.get("http://localhost/healthz"))
        self.assertEqual(self.successResultOf(stub.json_content(response)), {"status": "ok"})

    def test_redis_connection_is_a_child_and_starts_connecting(self):
        """--redis: the connection service is in the tree, connecting at start (here, to its Unix socket)."""
        reactor, top = self.start("--redis", "unix:///tmp/rpsa-test-redis.sock", "--event-stream", "s",
                                  "--product-id", "exrps")
        [connection] = [child for child in top if type(child).__name__ == "RedisConnection"]
        # The command connection, and the cluster's bus subscriber (issue 12), both to the socket.
        self.assertEqual([c[0] for c in reactor.unixClients], ["/tmp/rpsa-test-redis.sock"] * 2)
        self.assertEqual(connection.state, "connecting")
        names = [type(child).__name__ for child in connection]
        self.assertEqual(names, ["StreamWriter", "Heartbeat", "GameDirectory", "Bus", "Subscriber"])

    def test_cors_wraps_the_root(self):
        """--cors-origin: preflights from that origin are answered (without the key)."""
        top = tap.makeService(parse("--cors-origin", "https://portal.example"), reactor=MemoryReactorClock())
        [listener] = [child for child in top if isinstance(child, StreamServerEndpointService)]
        stub = StubTreq(listener.factory.resource)
        response = self.successResultOf(stub.request("OPTIONS", "http://rpsa/create_game", headers={
            "Origin": "https://portal.example", "Access-Control-Request-Method": "POST"}))
        self.assertEqual(response.code, 204)
        self.assertEqual(response.headers.getRawHeaders("Access-Control-Allow-Origin"), ["https://portal.example"])


class CompatOptionTests(OptionsTestCase):
    """--compat-shared-token, --compat-linger and --cors-origin."""

    def test_defaults(self):
        options = parse()
        self.assertEqual((options["compat-shared-token"], options["compat-linger"], options["cors-origin"]),
                         (False, 600.0, []))

    def test_given(self):
        options = parse("--compat-shared-token", "--compat-linger", "30", "--cors-origin", "HTTPS://Portal.Example/",
                        "--cors-origin", "*")
        self.assertEqual((options["compat-shared-token"], options["compat-linger"], options["cors-origin"]),
                         (True, 30.0, ["https://portal.example", "*"]))

    def test_bad(self):
        self.assertUsageError(["--compat-linger", "-1"], "--compat-linger")
        self.assertUsageError(["--cors-origin", "portal.example"], "--cors-origin", "expected an origin")

