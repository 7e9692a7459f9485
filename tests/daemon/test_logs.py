"""rpsa.daemon.logs: JSON log lines, the observer handed to twistd, and the redaction of secrets."""

import io
import json
import os
import subprocess
import sys

from twisted.application import service
from twisted.logger import (
    ILogObserver,
    Logger,
    LoggingFile,
    LogLevel,
    LogPublisher,
    eventFromJSON,
    formatEvent,
)
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from rpsa.daemon import logs, logtext
from rpsa.daemon.logs import REDACTED, Redactor, RedactingObserver
from tests.support.process import child_env

SECRET = "s3cr3t-T0KEN_value"
API_KEY = "api-key-0123456789"


class FakeOptions(dict):
    """rpsa's options as the log functions see them: a dict, and ``parent`` (twistd's options, a dict)."""

    def __init__(self, log_format="text", parent=None):
        super().__init__({"log-format": log_format})
        self.parent = parent


def json_lines(text):
    """Each non-empty line of ``text``, parsed as JSON."""
    return [json.loads(line) for line in text.splitlines() if line]


class JSONOutputTests(SynchronousTestCase):
    """json_file_observer writes Twisted's JSON event format, one event per line."""

    def setUp(self):
        self.publisher = LogPublisher()
        self.out = io.StringIO()
        self.log = Logger(namespace="rpsa.test", observer=self.publisher)

    def test_one_object_per_line(self):
        """Every event is one line holding one JSON object with the event's format, namespace, level and fields."""
        self.publisher.addObserver(logs.json_file_observer(self.out, Redactor()))
        self.log.info("game {game_id} created", game_id="g1")
        self.log.warn("second\nevent spanning {n} lines", n=2)
        try:
            1 / 0
        except ZeroDivisionError:
            self.log.failure("tick failed for {item}", item="g1")
        lines = self.out.getvalue().split("\n")
        self.assertEqual(lines[-1], "")
        events = [json.loads(line) for line in lines[:-1]]
        self.assertEqual(len(events), 3)
        for event in events:
            self.assertIsInstance(event, dict)
            self.assertEqual(event["log_namespace"], "rpsa.test")
            self.assertIn("log_time", event)
        self.assertEqual(events[0]["log_format"], "game {game_id} created")
        self.assertEqual(events[0]["game_id"], "g1")
        self.assertEqual(events[0]["log_level"]["name"], "info")
        self.assertEqual(events[1]["log_level"]["name"], "warn")
        self.assertEqual(events[2]["log_level"]["name"], "critical")
        self.assertIn("log_failure", events[2])

    def test_round_trip(self):
        """A line read back with eventFromJSON formats as the original message."""
        self.publisher.addObserver(logs.json_file_observer(self.out, Redactor()))
        self.log.info("player {seat} connected to game {game_id}", seat=1, game_id="g1")
        event = eventFromJSON(self.out.getvalue().strip())
        self.assertEqual(formatEvent(event), "player 1 connected to game g1")
        self.assertEqual(event["log_level"], LogLevel.info)

    def test_not_into_the_log_system(self):
        """With sys.stdout redirected to the log (a LoggingFile), log_observer writes to the real stdout instead."""
        real = io.StringIO()
        self.patch(sys, "__stdout__", real)
        self.patch(sys, "stdout", LoggingFile(Logger(observer=self.publisher)))
        self.publisher.addObserver(logs.log_observer(FakeOptions("json"), Redactor()))
        self.log.info("once")
        self.assertEqual([e["log_format"] for e in json_lines(real.getvalue())], ["once"])

    def test_json_file_observer(self):
        """json_file_observer alone writes one JSON line per event, without a record separator."""
        observer = logs.json_file_observer(self.out, Redactor())
        log = Logger(namespace="rpsa.x", observer=observer)
        for i in range(3):
            log.info("n={n}", n=i)
        self.assertNotIn("\x1e", self.out.getvalue())
        self.assertEqual([e["n"] for e in json_lines(self.out.getvalue())], [0, 1, 2])


class LogFormatOptionTests(SynchronousTestCase):
    """--log-format takes text or json."""

    def test_values(self):
        """text and json are accepted, in any case; anything else is a usage error."""
        self.assertEqual(logs.log_format("json"), "json")
        self.assertEqual(logs.log_format(" TEXT "), "text")
        self.assertRaises(usage.UsageError, logs.log_format, "xml")

    def test_option_definition(self):
        """LOG_FORMAT_OPTION is an optParameters entry defaulting to text."""
        name, short, default, _, coerce = logs.LOG_FORMAT_OPTION
        self.assertEqual((name, short, default, coerce), ("log-format", None, "text", logs.log_format))

        class Options(usage.Options):
            optParameters = [logs.LOG_FORMAT_OPTION]

        options = Options()
        options.parseOptions(["--log-format", "json"])
        self.assertEqual(options["log-format"], "json")
        self.assertRaises(usage.UsageError, Options().parseOptions, ["--log-format", "yaml"])


class TwistdObserverTests(SynchronousTestCase):
    """log_observer writes where twistd would have, and ProvidesLogObserver hands it to twistd."""

    def test_stdout_without_twistd(self):
        """Without twistd's options, the log goes to stdout."""
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        observer = logs.log_observer(FakeOptions("json"), Redactor())
        Logger(namespace="n", observer=observer).info("hello {who}", who="you")
        self.assertEqual(json_lines(out.getvalue())[0]["who"], "you")

    def test_logfile(self):
        """--logfile=PATH: JSON lines are written to that file."""
        path = os.path.abspath(self.mktemp())
        options = FakeOptions("json", {"logfile": path, "nodaemon": False, "syslog": False, "logger": None})
        observer = logs.log_observer(options, Redactor(), logs.log_file(options))
        Logger(namespace="n", observer=observer).info("to the file {n}", n=1)
        with open(path, encoding="utf-8") as f:
            self.assertEqual(json_lines(f.read())[0]["n"], 1)

    def test_logfile_text(self):
        """--log-format text writes twistd's text lines."""
        path = os.path.abspath(self.mktemp())
        options = FakeOptions("text", {"logfile": path, "nodaemon": True})
        observer = logs.log_observer(options, Redactor(), logs.log_file(options))
        Logger(namespace="n", observer=observer).info("plain {n}", n=1)
        with open(path, encoding="utf-8") as f:
            self.assertIn("[n#info] plain 1", f.read())

    def test_log_file(self):
        """log_file opens --logfile (default twistd.log when daemonizing); None for stdout, syslog, --logger, no twistd."""
        path = os.path.abspath(self.mktemp())
        logfile = logs.log_file(FakeOptions("json", {"logfile": path, "nodaemon": False}))
        self.addCleanup(logfile.close)
        self.assertEqual(logfile.path, path)
        for parent in (None, {"nodaemon": True, "logfile": None}, {"nodaemon": False, "logfile": "-"},
                       {"syslog": True}, {"logger": "some.observer.factory"}):
            self.assertIsNone(logs.log_file(FakeOptions("json", parent)), parent)

    def test_stdout_when_nodaemon(self):
        """--nodaemon without --logfile, or --logfile=-, log to stdout."""
        for parent in ({"nodaemon": True, "logfile": None}, {"nodaemon": True, "logfile": "-"}):
            out = io.StringIO()
            self.patch(sys, "stdout", out)
            options = FakeOptions("json", parent)
            observer = logs.log_observer(options, Redactor(), logs.log_file(options))
            Logger(observer=observer).info("x")
            self.assertEqual(len(json_lines(out.getvalue())), 1, parent)

    def test_daemon_to_stdout_refused(self):
        """--logfile=- while daemonizing is refused, as twistd refuses it."""
        options = FakeOptions("json", {"nodaemon": False, "logfile": "-"})
        self.assertRaises(usage.UsageError, logs.check_log_options, options)
        self.assertRaises(usage.UsageError, logs.log_observer, options, Redactor())

    def test_json_to_syslog_refused(self):
        """--log-format json with --syslog is refused; text to syslog is redacted."""
        self.assertRaises(usage.UsageError, logs.check_log_options, FakeOptions("json", {"syslog": True}))
        observer = logs.log_observer(FakeOptions("text", {"syslog": True, "prefix": "rpsa"}), Redactor())
        self.assertIsInstance(observer, RedactingObserver)

    def test_explicit_logger_wins(self):
        """With twistd's --logger, rpsa hands twistd no observer."""
        options = FakeOptions("json", {"logger": "some.observer.factory", "logfile": "-", "nodaemon": False})
        logs.check_log_options(options)
        self.assertIsNone(logs.log_observer(options, Redactor()))

    def test_application_component(self):
        """A ProvidesLogObserver service sets the application's ILogObserver (what twistd's AppLogger logs to)."""

        class Root(logs.ProvidesLogObserver, service.MultiService):
            """A root service as makeService returns it."""

        application = service.Application("rpsa")
        root = Root()
        root.log_observer = logs.json_file_observer(io.StringIO(), Redactor())
        root.setServiceParent(application)
        self.assertIs(application.getComponent(ILogObserver), root.log_observer)
        self.assertEqual(list(service.IServiceCollection(application)), [root])

    def test_no_observer(self):
        """Without a log_observer, the application's ILogObserver is left unset (twistd chooses)."""

        class Root(logs.ProvidesLogObserver, service.MultiService):
            """A root service as makeService returns it."""

        application = service.Application("rpsa")
        Root().setServiceParent(application)
        self.assertIsNone(application.getComponent(ILogObserver))

    def test_other_parent(self):
        """Added to a plain MultiService (not an application), it sets nothing and joins it."""

        class Root(logs.ProvidesLogObserver, service.MultiService):
            """A root service as makeService returns it."""

        parent = service.MultiService()
        root = Root()
        root.log_observer = logs.json_file_observer(io.StringIO(), Redactor())
        root.setServiceParent(parent)
        self.assertEqual(list(parent), [root])

    def test_real_twistd(self):
        """Under a real twistd, every line is JSON: events logged before logging began and twistd's own."""
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        tac = os.path.join(directory, "json.tac")
        with open(tac, "w", encoding="utf-8") as f:
            f.write(
                "import sys\n"
                "from twisted.application import service\n"
                "from twisted.internet import reactor\n"
                "from twisted.logger import Logger\n"
                "from rpsa.daemon import logs\n"
                f"redactor = logs.Redactor([{API_KEY!r}])\n"
                "Logger(namespace='tac').info('built: key {key}, {url}',\n"
                f"    key={API_KEY!r}, url='/ws?token={SECRET}')\n"
                "class Root(logs.ProvidesLogObserver, service.MultiService):\n"
                "    log_observer = logs.json_file_observer(sys.stdout, redactor)\n"
                "application = service.Application('json')\n"
                "Root().setServiceParent(application)\n"
                "reactor.callWhenRunning(reactor.stop)\n"
            )
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        proc = subprocess.run(
            [twistd, "-n", "--pidfile=", "-y", tac],
            cwd=directory, env=child_env(), capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(proc.returncode, 0, proc.stderr)
        events = json_lines(proc.stdout)
        formats = [e.get("log_format", "") for e in events]
        self.assertIn("built: key {key}, {url}", formats)
        self.assertTrue(any("starting up" in f for f in formats), formats)
        self.assertIn("Server Shut Down.", formats)
        self.assertNotIn(SECRET, proc.stdout)
        self.assertNotIn(API_KEY, proc.stdout)


class RedactionTests(SynchronousTestCase):
    """Tokens, Bearer credentials and registered secrets never reach the output."""

    def setUp(self):
        self.redactor = Redactor([API_KEY])

    def text_log(self):
        """A Logger writing redacted text lines, and the stream they go to."""
        out = io.StringIO()
        return Logger(namespace="t", observer=logs.text_file_observer(out, self.redactor)), out

    def captured(self):
        """A Logger behind a RedactingObserver, and the list of events it passes on."""
        events = []
        return Logger(namespace="t", observer=RedactingObserver(events.append, self.redactor)), events

    def test_query_tokens_in_text(self):
        """token= and game_token= query parameters are scrubbed from formatted messages; other parameters stay."""
        log, out = self.text_log()
        log.info("GET {uri}", uri=f"/api/games/g/ws?token={SECRET}&user_id=x")
        log.info("GET {uri}", uri=f"/?game_token={SECRET}&user_id=x")
        text = out.getvalue()
        self.assertNotIn(SECRET, text)
        self.assertIn(f"/api/games/g/ws?token={REDACTED}&user_id=x", text)
        self.assertIn(f"/?game_token={REDACTED}&user_id=x", text)

    def test_bearer(self):
        """Authorization: Bearer credentials are scrubbed, whatever the case of the scheme."""
        log, out = self.text_log()
        log.info("headers: {h}", h=f"Authorization: Bearer {SECRET}")
        log.info("headers: {h}", h=f"authorization: bearer {SECRET}")
        self.assertNotIn(SECRET, out.getvalue())
        self.assertIn(f"Authorization: Bearer {REDACTED}", out.getvalue())

    def test_secret_in_the_format_itself(self):
        """The code's own keys (the format string among them) are passed on unscrubbed, but a secret a
        format quoted is still scrubbed from the finished line, text or JSON."""
        log, events = self.captured()
        log.info(f"joined with token={SECRET}")
        self.assertIn(SECRET, events[0]["log_format"])
        text_log, out = self.text_log()
        text_log.info(f"joined with token={SECRET} and key {API_KEY}")
        json_out = io.StringIO()
        Logger(namespace="t", observer=logs.json_file_observer(json_out, self.redactor)).info(
            f"joined with token={SECRET} and key {API_KEY}")
        for written in (out.getvalue(), json_out.getvalue()):
            self.assertNotIn(SECRET, written)
            self.assertNotIn(API_KEY, written)
            self.assertIn(REDACTED, written)

    def test_string_fields(self):
        """String fields are scrubbed in the event passed on, whether or not the format shows them."""
        log, events = self.captured()
        log.info("unrelated", url=f"ws://h/?game_token={SECRET}", body=f'{{"player_token": "{SECRET}"}}')
        (event,) = events
        self.assertEqual(event["url"], f"ws://h/?game_token={REDACTED}")
        self.assertEqual(event["body"], f'{{"player_token": "{REDACTED}"}}')

    def test_secret_field_names(self):
        """Fields named like secrets are redacted whatever their value looks like."""
        log, events = self.captured()
        log.info("seat {token}", token=SECRET, player_token=SECRET, api_key=SECRET, game_id="g1")
        (event,) = events
        self.assertEqual([event[k] for k in ("token", "player_token", "api_key")], [REDACTED] * 3)
        self.assertEqual(event["game_id"], "g1")
        self.assertEqual(formatEvent(event), f"seat {REDACTED}")

    def test_values_pulled_out_of_objects(self):
        """What the format reads from an object (an attribute, a repr) is scrubbed too."""

        class Seat:
            token = SECRET
            uri = f"/x?token={SECRET}".encode()

            def __repr__(self):
                return f"<Seat token={SECRET}>"

        log, events = self.captured()
        log.info("{seat.uri} {seat!r} {seat.token}", seat=Seat())
        (event,) = events
        self.assertEqual(formatEvent(event), f"b'/x?token={REDACTED}' <Seat token={REDACTED}> {REDACTED}")
        out = io.StringIO()
        Logger(observer=logs.json_file_observer(out, self.redactor)).info("{seat.uri} {seat!r}", seat=Seat())
        self.assertNotIn(SECRET, out.getvalue())
        self.assertEqual(len(json_lines(out.getvalue())), 1)

    def test_original_event_untouched(self):
        """The event other observers see is not changed."""
        publisher = LogPublisher()
        seen = []
        publisher.addObserver(RedactingObserver(lambda e: None, self.redactor))
        publisher.addObserver(seen.append)
        Logger(observer=publisher).info("{url}", url=f"/?token={SECRET}")
        self.assertEqual(seen[0]["url"], f"/?token={SECRET}")
        self.assertNotIn("log_flattened", seen[0])

    def test_api_key_anywhere(self):
        """A registered API key is replaced wherever it appears: message, field, exception text."""
        log, out = self.text_log()
        log.info("the key is {k}", k=API_KEY)
        log.info(f"literal {API_KEY} in the format")
        try:
            raise ValueError(f"bad key {API_KEY}")
        except ValueError:
            log.failure("check failed")
        text = out.getvalue()
        self.assertIn("ValueError: bad key", text)
        self.assertNotIn(API_KEY, text)
        self.assertEqual(text.count(REDACTED), 3)

    def test_api_key_in_json(self):
        """A key needing JSON escapes is redacted in JSON lines, which stay valid JSON."""
        key = 'k"\\é-0123456789'
        out = io.StringIO()
        log = Logger(namespace="t", observer=logs.json_file_observer(out, Redactor([key])))
        log.info("{k}", k=key, other={"nested": key})
        text = out.getvalue()
        event = json.loads(text)
        self.assertEqual(event["k"], REDACTED)
        self.assertNotIn(json.dumps(key)[1:-1], text)
        self.assertNotIn(json.dumps(key, ensure_ascii=False)[1:-1], text)

    def test_scrub_is_idempotent_and_leaves_plain_text(self):
        """Scrubbing twice changes nothing more; text without secrets comes back unchanged."""
        once = self.redactor.scrub(f"a?token={SECRET}&b=1 Bearer {SECRET} {API_KEY}")
        self.assertEqual(self.redactor.scrub(once), once)
        plain = "player 1 connected to game g1 (tokens: 2)"
        self.assertEqual(self.redactor.scrub(plain), plain)


class _Shown:
    """An object whose text is a token (shown by a plain-looking format)."""

    def __format__(self, spec):
        return f"game_token={SECRET}"

    def __str__(self):
        return f"game_token={SECRET}"


class CheapFormattingTests(SynchronousTestCase):
    """The text observer's shortcuts write exactly what Twisted's formatter writes."""

    EVENTS = [
        {"log_format": "game {game_id} created (best of {rounds})", "game_id": "g1", "rounds": 3},
        {"log_format": "{log_io}", "log_io": '"127.0.0.1" - - [01/Dec/2026:01:20:51 +0000] "POST /x HTTP/1.1" 200 9'},
        {"log_format": "ratio {r:.2f}, flag {f}, none {n}", "r": 1.23456, "f": True, "n": None},
        {"log_format": "two\nlines {a}", "a": "x\ny"},
        {"log_format": "missing {nothing}"},
        {"log_format": ""},
        {"log_format": "{a!r} {b.real} {c[0]} {d()}", "a": "q", "b": 2, "c": [1], "d": lambda: "called"},
        {"log_format": "an object {o}", "o": _Shown()},
        {"log_format": "system {a}", "a": 1, "log_system": "HTTPChannel,3,127.0.0.1"},
        {"log_format": "no level {a}", "a": 1, "log_level": None},
        {"log_format": b"bytes {a}", "a": 1},
        {"log_format": "braces {{literal}} {a:>{w}}", "a": 1, "w": 5},
    ]

    def complete(self, event):
        """The event as a Logger would emit it (time, level, namespace)."""
        full = {"log_time": 1764547200.75, "log_level": LogLevel.info, "log_namespace": "rpsa.test"}
        full.update(event)
        return full

    def test_same_text_as_twisted(self):
        """classic_text() equals formatEventAsClassicLogText() for plain and other events alike."""
        from twisted.logger import formatEventAsClassicLogText

        for event in map(self.complete, self.EVENTS):
            clean = logs.redact_event(event, Redactor())
            self.assertEqual(logtext.classic_text(clean, logtext.SecondsFormatter()), formatEventAsClassicLogText(clean),
                             event["log_format"])

    def test_failure_keeps_traceback(self):
        """An event with a failure is formatted by Twisted (its traceback included)."""
        from twisted.logger import formatEventAsClassicLogText
        from twisted.python.failure import Failure

        try:
            1 / 0
        except ZeroDivisionError:
            failure = Failure()
        event = self.complete({"log_format": "it failed {a}", "a": 1, "log_failure": failure})
        self.assertEqual(logtext.classic_text(event, logtext.SecondsFormatter()), formatEventAsClassicLogText(event))
        self.assertIn("ZeroDivisionError", logtext.classic_text(event, logtext.SecondsFormatter()))

    def test_plain_fields(self):
        """Only formats that name fields (with a plain spec) are plain; the others need flattening."""
        self.assertEqual(logtext.plain_fields("game {game_id} of {n:>3}"), ("game_id", "n"))
        self.assertEqual(logtext.plain_fields("no fields {{at all}}"), ())
        for not_plain in ("{a.b}", "{a[0]}", "{a!r}", "{a()}", "{a:{w}}", "{0}", "{", "}{"):
            self.assertIsNone(logtext.plain_fields(not_plain), not_plain)

    def test_object_fields_still_redacted(self):
        """A plain-looking format showing an object is flattened, so its text is scrubbed as before."""
        out = io.StringIO()
        log = Logger(namespace="t", observer=logs.text_file_observer(out, Redactor()))
        log.info("an object {o}", o=_Shown())
        log.info("a string {s}", s=f"/?token={SECRET}")
        self.assertNotIn(SECRET, out.getvalue())
        self.assertEqual(out.getvalue().count(REDACTED), 2)
        events = []
        RedactingObserver(events.append, Redactor())({"log_format": "an object {o}", "o": _Shown()})
        self.assertNotIn(SECRET, formatEvent(events[0]))

    def test_seconds_formatter(self):
        """The same text as formatTime for every time; formatted once per whole second."""
        from twisted.logger import formatTime

        calls = []

        def counting(when):
            calls.append(when)
            return formatTime(when)

        seconds = logtext.SecondsFormatter(counting)
        for when in (1764547200.0, 1764547200.5, 1764547200.999, 1764547201.0, 1764547201.2, 0.5, None):
            self.assertEqual(seconds(when), formatTime(when))
        self.assertEqual(calls, [1764547200, 1764547201, 0, None])
