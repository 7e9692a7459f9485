"""RPSA_* environment variables as ``twistd rpsa`` options, and the real ``twistd -ny rpsa.tac``."""

import os
import sys
import tempfile

from twisted.internet import defer, reactor
from twisted.python import usage
from twisted.trial.unittest import TestCase

import tests
from rpsa.daemon import envconfig
from rpsa.daemon.envconfig import FLAG, PARAMETER, REPEATABLE, argv_from_env, env_options, options_from_env
from rpsa.daemon.tap import DEFAULT_LISTEN, Options
from tests.support.process import Daemon, _DaemonProtocol, free_port
from tests.support.process import child_env

TAC = os.path.abspath(os.path.join(os.path.dirname(tests.__file__), "..", "rpsa.tac"))
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")


class ExtendedOptions(Options):
    """Options with one more option of each kind, as a later version might add."""

    optFlags = [["verbose", None, "Say more."]]
    optParameters = [["max-rooms", None, 5, "Rooms.", int]]

    def __init__(self):
        super().__init__()
        self["extra-origin"] = []

    def opt_extra_origin(self, origin):
        """An extra allowed origin; repeatable."""
        self["extra-origin"].append(origin)

    opt_o = opt_extra_origin


class MappingTests(TestCase):
    """Which variable sets which option, and how each kind of value is read."""

    def test_names_derived_from_options(self):
        """Every option of Options has a variable named after it, with its kind."""
        table = env_options()
        self.assertEqual(table["RPSA_MAX_GAMES"].option, "max-games")
        self.assertEqual(table["RPSA_MAX_GAMES"].kind, PARAMETER)
        self.assertEqual(table["RPSA_DEV"].kind, FLAG)
        self.assertEqual(table["RPSA_LISTEN"].kind, REPEATABLE)
        expected = {envconfig.variable_name(p[0]) for p in Options.optParameters + Options.optFlags}
        self.assertLessEqual(expected | {"RPSA_LISTEN"}, set(table))
        self.assertTrue(all(name == envconfig.variable_name(entry.option) for name, entry in table.items()))

    def test_help_and_version_not_settings(self):
        """--help and --version have no variables."""
        table = env_options()
        self.assertNotIn("RPSA_HELP", table)
        self.assertNotIn("RPSA_VERSION", table)

    def test_new_options_picked_up(self):
        """Options added to the class get variables without changes to envconfig (an alias counts once)."""
        table = env_options(ExtendedOptions)
        self.assertEqual(table["RPSA_VERBOSE"].kind, FLAG)
        self.assertEqual(table["RPSA_MAX_ROOMS"].kind, PARAMETER)
        self.assertEqual(table["RPSA_EXTRA_ORIGIN"].kind, REPEATABLE)
        self.assertNotIn("RPSA_O", table)
        options = options_from_env(
            {"RPSA_VERBOSE": "true", "RPSA_MAX_ROOMS": "7", "RPSA_EXTRA_ORIGIN": "a b"}, ExtendedOptions)
        self.assertEqual((options["verbose"], options["max-rooms"], options["extra-origin"]), (1, 7, ["a", "b"]))

    def test_empty_environment_is_defaults(self):
        """No RPSA_* variables give the command line's defaults."""
        options = options_from_env({"PATH": "/bin", "HOME": "/root"})
        defaults = Options()
        defaults.parseOptions([])
        self.assertEqual(dict(options), dict(defaults))
        self.assertEqual(options["listen"], [DEFAULT_LISTEN])

    def test_parameter(self):
        """A parameter's value is parsed as on the command line (RPSA_MAX_GAMES is --max-games)."""
        options = options_from_env({"RPSA_MAX_GAMES": "12", "RPSA_TICK": "0.25", "RPSA_MATCH_PORTS": "9100-9110"})
        self.assertEqual((options["max-games"], options["tick"], options["match-ports"]), (12, 0.25, (9100, 9110)))

    def test_parameter_value_verbatim(self):
        """A parameter's value is passed whole, even with spaces or a leading dash."""
        self.assertEqual(argv_from_env({"RPSA_PUBLIC_URL": "-x y"}), ["--public-url=-x y"])

    def test_empty_parameter_is_default(self):
        """An empty parameter leaves the option at its default."""
        options = options_from_env({"RPSA_MAX_GAMES": "", "RPSA_PUBLIC_URL": " "})
        self.assertEqual((options["max-games"], options["public-url"]), (10000, None))

    def test_repeatable(self):
        """RPSA_LISTEN takes whitespace-separated endpoints, each a --listen."""
        listen = "tcp:8080:interface=127.0.0.1 \n tcp:8085:interface=127.0.0.1"
        options = options_from_env({"RPSA_LISTEN": listen})
        self.assertEqual(options["listen"], ["tcp:8080:interface=127.0.0.1", "tcp:8085:interface=127.0.0.1"])
        self.assertEqual(argv_from_env({"RPSA_LISTEN": listen}),
                         ["--listen=tcp:8080:interface=127.0.0.1", "--listen=tcp:8085:interface=127.0.0.1"])

    def test_empty_repeatable_is_default(self):
        """An empty RPSA_LISTEN gives the default listener."""
        self.assertEqual(options_from_env({"RPSA_LISTEN": "  "})["listen"], [DEFAULT_LISTEN])

    def test_flag_on(self):
        """1, true and yes (any case) turn a flag on."""
        for value in ("1", "true", "yes", "TRUE", "Yes", " 1 "):
            self.assertEqual(options_from_env({"RPSA_DEV": value})["dev"], 1, value)

    def test_flag_off(self):
        """0, false, no and empty leave a flag off."""
        for value in ("0", "false", "no", "NO", ""):
            self.assertEqual(options_from_env({"RPSA_DEV": value})["dev"], 0, value)

    def test_flag_bad_value(self):
        """Any other flag value is a UsageError naming the variable."""
        e = self.assertRaises(usage.UsageError, options_from_env, {"RPSA_DEV": "maybe"})
        self.assertIn("RPSA_DEV", str(e))
        self.assertIn("'maybe'", str(e))

    def test_flag_validation_shared(self):
        """RPSA_DEV lifts the open-API refusal exactly as --dev does."""
        exposed = {"RPSA_LISTEN": "tcp:8080"}
        e = self.assertRaises(usage.UsageError, options_from_env, exposed)
        self.assertIn("--api-key-file", str(e))
        self.assertEqual(options_from_env({**exposed, "RPSA_DEV": "yes"})["listen"], ["tcp:8080"])

    def test_unknown_variable(self):
        """An RPSA_* variable naming no option is an error naming it (with a suggestion)."""
        e = self.assertRaises(usage.UsageError, options_from_env, {"RPSA_MAX_GAME": "5", "RPSA_BOGUS": "1"})
        self.assertIn("RPSA_BOGUS", str(e))
        self.assertIn("RPSA_MAX_GAME (did you mean RPSA_MAX_GAMES?)", str(e))

    def test_other_variables_ignored(self):
        """Variables without the RPSA_ prefix are not options."""
        self.assertEqual(argv_from_env({"PATH": "/bin", "rpsa_tick": "x", "XRPSA_TICK": "y"}), [])

    def test_bad_value_same_error(self):
        """A bad value raises the very UsageError the command line gives."""
        e = self.assertRaises(usage.UsageError, options_from_env, {"RPSA_MAX_GAMES": "lots"})
        command_line = self.assertRaises(usage.UsageError, Options().parseOptions, ["--max-games", "lots"])
        self.assertEqual(str(e), str(command_line))

    def test_bad_listen_same_error(self):
        """An invalid endpoint in RPSA_LISTEN fails as --listen does."""
        e = self.assertRaises(usage.UsageError, options_from_env, {"RPSA_LISTEN": "tcp:8080 nosuch:1"})
        self.assertIn("--listen: invalid endpoint 'nosuch:1'", str(e))


class TacDaemon(Daemon):
    """The real ``twistd -ny rpsa.tac``, configured through RPSA_* variables, run in ``cwd``."""

    def __init__(self, reactor, cwd, **variables):
        self._reactor = reactor
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_base = f"ws://127.0.0.1:{self.port}"
        self.proto = _DaemonProtocol()
        variables.setdefault("RPSA_LISTEN", f"tcp:{self.port}:interface=127.0.0.1")
        env = {k: v for k, v in child_env().items() if not k.startswith("RPSA_")}
        env.update(variables)
        argv = [TWISTD, "-ny", TAC, "--pidfile="]
        self.process = reactor.spawnProcess(self.proto, TWISTD, argv, env=env, path=cwd)


class TacIntegrationTests(TestCase):
    """``twistd -ny rpsa.tac`` runs the service the plugin runs."""

    timeout = 60

    def setUp(self):
        self.cwd = tempfile.mkdtemp(prefix="rpsa-tac-")
        self.addCleanup(os.rmdir, self.cwd)

    @defer.inlineCallbacks
    def _exit_status(self, daemon, timeout=30):
        """Wait for the daemon to exit by itself; SIGTERM (then SIGKILL) it after ``timeout`` seconds."""
        timer = reactor.callLater(timeout, daemon.stop)
        try:
            status = yield daemon.proto.ended
        finally:
            if timer.active():
                timer.cancel()
        return status

    @defer.inlineCallbacks
    def test_serves_and_stops(self):
        """The tac serves /healthz on RPSA_LISTEN, honours RPSA_MAX_GAMES, and SIGTERM stops it cleanly."""
        daemon = TacDaemon(reactor, self.cwd, RPSA_MAX_GAMES="1", RPSA_TICK="0.02")
        try:
            yield daemon.ready()
            status, _ = yield daemon.request("GET", "/healthz")
            self.assertEqual(status, 200)
            status, _ = yield daemon.request("POST", "/api/games", {"user_id": "a", "username": "A"})
            self.assertEqual(status, 201)
            status, body = yield daemon.request("POST", "/api/games", {"user_id": "b", "username": "B"})
            self.assertEqual(status, 503, body)  # the second game exceeds RPSA_MAX_GAMES=1
        finally:
            exit_code, signal = yield daemon.stop()
        # twistd re-raises SIGTERM after a clean shutdown.
        self.assertIn((exit_code, signal), [(0, None), (None, 15)], daemon.log)
        self.assertIn("Loading " + TAC, daemon.log)
        self.assertIn("Server Shut Down", daemon.log)
        self.assertEqual(os.listdir(self.cwd), [])  # no pid file, no saved application

    @defer.inlineCallbacks
    def test_bad_value_exits(self):
        """A bad RPSA_* value is printed and twistd exits non-zero without serving."""
        daemon = TacDaemon(reactor, self.cwd, RPSA_MAX_GAMES="lots")
        exit_code, signal = yield self._exit_status(daemon)
        self.assertNotEqual(exit_code, 0)
        self.assertIn("rpsa.tac: --max-games: 'lots' is not an integer", daemon.log)
        self.assertNotIn("starting up", daemon.log)

    @defer.inlineCallbacks
    def test_unknown_variable_exits(self):
        """A misspelt RPSA_* variable is printed and twistd exits non-zero."""
        daemon = TacDaemon(reactor, self.cwd, RPSA_MAX_GAMS="5")
        exit_code, signal = yield self._exit_status(daemon)
        self.assertNotEqual(exit_code, 0)
        self.assertIn("unknown environment variable RPSA_MAX_GAMS (did you mean RPSA_MAX_GAMES?)", daemon.log)
