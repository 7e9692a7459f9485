"""Running rpsa as a real process: environments, free ports, and the real ``twistd -n rpsa``."""

import json
import os
import random
import socket
import sys

import treq
from twisted.internet import defer, protocol, reactor, task
from twisted.trial.unittest import TestCase

import rpsa

# The directory that holds the rpsa package under test (the checkout, or site-packages).
CODE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(rpsa.__file__)))


def child_env(**extra):
    """An environment for a child Python that imports the rpsa under test."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = CODE_ROOT + (os.pathsep + path if path else "")
    env.update(extra)
    return env


def python_command(*args):
    """argv running this interpreter with ``args``."""
    return [sys.executable, *args]


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Ranges are looked for below the kernel's ephemeral ports (32768 and up on Linux), where a
# busy machine's outgoing connections cannot have taken them; the start is random, so tests
# running in parallel rarely try the same ones.
RANGE_LOW, RANGE_HIGH = 20000, 32000


def free_port_range(count, attempts=200):
    """``(low, high)``: ``count`` consecutive 127.0.0.1 ports that were free a moment ago."""
    for _ in range(attempts):
        low = random.randrange(RANGE_LOW, RANGE_HIGH - count)
        sockets = []
        try:
            for port in range(low, low + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return low, low + count - 1
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port range")


def process_gone(pid):
    """True if ``pid`` no longer runs (never existed, or is a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


class _DaemonProtocol(protocol.ProcessProtocol):
    def __init__(self):
        self.output = []
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.output.append(data)

    errReceived = outReceived

    def processEnded(self, reason):
        # (exit status, signal): (0, None) for a clean exit, (None, 15) killed by SIGTERM.
        self.ended.callback((reason.value.exitCode, reason.value.signal))


class Daemon:
    """A running ``twistd -n rpsa``; ``url`` is its HTTP base."""

    def __init__(self, reactor, args, env=None):
        self._reactor = reactor
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_base = f"ws://127.0.0.1:{self.port}"
        self.proto = _DaemonProtocol()
        env = env or child_env()
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        argv = [twistd, "-n", "--pidfile=", "rpsa", "--listen", self.endpoint(), *args]
        executable, argv = self.command(argv, env)
        self.process = reactor.spawnProcess(self.proto, executable, argv, env=env)

    def endpoint(self):
        """The --listen endpoint serving ``self.port``."""
        return f"tcp:{self.port}:interface=127.0.0.1"

    def command(self, twistd_argv, env):
        """``(executable, argv)`` that runs ``twistd_argv`` (a subclass may wrap it)."""
        return twistd_argv[0], twistd_argv

    @property
    def log(self):
        """Everything the daemon printed so far."""
        return b"".join(self.proto.output).decode("utf-8", "replace")

    @defer.inlineCallbacks
    def ready(self, attempts=100):
        """Wait (at most ``attempts`` × 0.1 s) until /healthz answers."""
        for _ in range(attempts):
            if self.proto.ended.called:
                raise RuntimeError(f"the daemon exited early:\n{self.log}")
            try:
                response = yield treq.get(f"{self.url}/healthz", timeout=2, persistent=False)
                yield response.content()
                return
            except Exception:
                yield task.deferLater(self._reactor, 0.1, lambda: None)
        raise RuntimeError(f"the daemon did not answer:\n{self.log}")

    @defer.inlineCallbacks
    def request(self, method, path, body=None, headers=None):
        """An HTTP request; fires with ``(status, decoded JSON or None)``."""
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        data = json.dumps(body).encode() if body is not None else None
        response = yield treq.request(method, f"{self.url}{path}", data=data, headers=all_headers, timeout=10, persistent=False)
        raw = yield response.content()
        return response.code, (json.loads(raw) if raw else None)

    @defer.inlineCallbacks
    def stop(self, timeout=15):
        """SIGTERM and wait (bounded) for ``(exit status, signal)``."""
        if not self.proto.ended.called:
            self.process.signalProcess("TERM")
        ended = self.proto.ended
        timer = self._reactor.callLater(timeout, self._kill)
        status = yield ended
        if timer.active():
            timer.cancel()
        return status

    def _kill(self):
        if not self.proto.ended.called:
            self.process.signalProcess("KILL")


class DaemonTestCase(TestCase):
    """A fresh daemon per test (``make_daemon``), stopped afterwards: it must exit 0."""

    timeout = 120
    daemon_args = ()

    def make_daemon(self):
        """The daemon this test case runs."""
        return Daemon(reactor, list(self.daemon_args))

    @defer.inlineCallbacks
    def setUp(self):
        self.daemon = self.make_daemon()
        self.addCleanup(self._stop)
        yield self.daemon.ready()

    @defer.inlineCallbacks
    def _stop(self):
        exit_code, signal = yield self.daemon.stop()
        self.assertEqual((exit_code, signal), (0, None), self.daemon.log)
        self.assertIn("Server Shut Down", self.daemon.log)
