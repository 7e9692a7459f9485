"""Tests of ``bench/original.py``: reading and checking the original server's listening and Redis settings.

The benchmark folder is not a package, so the module is loaded from its path.  The index.js texts are made up
here in the shape the checker reads (literal constants); nothing of the original server is copied.
"""

import contextlib
import io
import os

from twisted.trial.unittest import SynchronousTestCase

from tests.support.bench import load_bench


original = load_bench("original")


def index_js(http_host="127.0.0.1", ws_host="127.0.0.1", http_port=8080, ws_port=8085,
             redis="redis://127.0.0.1:6390/1"):
    """An index.js-shaped text with the five constants the checker reads."""
    return (f"const a = require('a')\n// settings\nconst httpServerPort = {http_port}\n"
            f"const httpServerHost = '{http_host}'\nconst socketPort = {ws_port}\n"
            f"const socketHost = \"{ws_host}\";\nconst eventStreamURL = '{redis}' // stream\nstart()\n")


class ReadTests(SynchronousTestCase):
    """Constants and Redis URLs."""

    def test_read_constants(self):
        """Numbers become ints, either quote style gives the string, trailing ; and comments are allowed."""
        self.assertEqual(original.read_constants(index_js()), {
            "httpServerPort": 8080, "httpServerHost": "127.0.0.1", "socketPort": 8085,
            "socketHost": "127.0.0.1", "eventStreamURL": "redis://127.0.0.1:6390/1"})

    def test_non_literal_is_missing(self):
        """A value computed at run time (e.g. from the environment) is not read."""
        text = index_js().replace("const socketPort = 8085", "const socketPort = process.env.PORT || 8085")
        self.assertNotIn("socketPort", original.read_constants(text))

    def test_redis_address(self):
        """host and port of a redis:// URL, 6379 by default; None for anything else."""
        self.assertEqual(original.redis_address("redis://127.0.0.1:6390/1"), ("127.0.0.1", 6390))
        self.assertEqual(original.redis_address("redis://localhost/0"), ("localhost", 6379))
        self.assertIsNone(original.redis_address("http://127.0.0.1:6390/1"))
        self.assertIsNone(original.redis_address("redis://127.0.0.1:notaport/1"))
        self.assertIsNone(original.redis_address(None))


class ProblemTests(SynchronousTestCase):
    """What makes a configuration unusable for the benchmark."""

    def problems(self, **kw):
        return original.problems(original.read_constants(index_js(**kw)), 8080, 8085)

    def test_loopback_configuration_is_usable(self):
        """Both hosts 127.0.0.1, the benchmark's ports, Redis on 127.0.0.1: no problem."""
        self.assertEqual(self.problems(), [])

    def test_all_interfaces_refused(self):
        """0.0.0.0 (the original's default) is refused for each host."""
        found = self.problems(http_host="0.0.0.0", ws_host="0.0.0.0")
        self.assertEqual(len(found), 2)
        self.assertIn("httpServerHost", found[0])
        self.assertIn("socketHost", found[1])

    def test_other_ports_refused(self):
        """A port other than the one the benchmark drives names the variable to set."""
        found = self.problems(ws_port=9085)
        self.assertEqual(len(found), 1)
        self.assertIn("WS_PORT=9085", found[0])

    def test_redis_elsewhere_refused(self):
        """Redis must be on 127.0.0.1 (not the original's docker host name), and not on a server port."""
        self.assertIn("redis-db", self.problems(redis="redis://redis-db:6379/1")[0])
        self.assertIn("one the server listens on", self.problems(redis="redis://127.0.0.1:8080/1")[0])
        self.assertIn("not a redis://", self.problems(redis="127.0.0.1:6379")[0])

    def test_missing_constants_named(self):
        """Each constant that cannot be read is named."""
        found = original.problems({}, 8080, 8085)
        self.assertEqual(len(found), len(original.NAMES))


class MainTests(SynchronousTestCase):
    """original.py as a command on a directory."""

    def run_main(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = original.main(list(args))
        return status, out.getvalue(), err.getvalue()

    def folder(self, text):
        path = self.mktemp()
        os.makedirs(path)
        with open(os.path.join(path, "index.js"), "w") as f:
            f.write(text)
        return path

    def test_check_and_redis_port(self):
        """check exits 0 and says what it found; redis-port prints the port."""
        path = self.folder(index_js())
        status, out, _ = self.run_main("check", path)
        self.assertEqual(status, 0)
        self.assertIn("Redis redis://127.0.0.1:6390/1", out)
        self.assertEqual(self.run_main("redis-port", path)[:2], (0, "6390\n"))

    def test_check_refuses(self):
        """A copy not set up yet exits 1 with its problems on stderr; so does redis-port."""
        path = self.folder(index_js(http_host="0.0.0.0", redis="redis://redis-db:6379/1"))
        status, out, err = self.run_main("check", path)
        self.assertEqual((status, out), (1, ""))
        self.assertIn("httpServerHost", err)
        self.assertIn("redis-db", err)
        self.assertEqual(self.run_main("redis-port", path)[0], 1)

    def test_ports_from_options(self):
        """--http-port and --ws-port say what the benchmark drives."""
        path = self.folder(index_js(http_port=18080, ws_port=18085))
        self.assertEqual(self.run_main("check", path)[0], 1)
        self.assertEqual(self.run_main("check", path, "--http-port", "18080", "--ws-port", "18085")[0], 0)

    def test_no_index(self):
        """A directory without index.js exits 1."""
        path = self.mktemp()
        os.makedirs(path)
        self.assertEqual(self.run_main("check", path)[0], 1)
