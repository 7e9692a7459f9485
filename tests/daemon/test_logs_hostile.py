"""What clients put in ids, paths and headers cannot forge or garble log lines, nor leak a token (issue 10)."""

import io
import json
import secrets

from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from rpsa.daemon import logs
from rpsa.site import access_log_formatter
from tests.test_site import access_request

FORGED = "alice\n2026-01-01T00:00:00+0000 [rpsa.daemon] rpsa serving\x1b[2K\r\x00"


class TextLogTests(SynchronousTestCase):

    def log_one(self, observer_factory):
        out = io.StringIO()
        log = Logger(namespace="rpsa.test", observer=observer_factory(out, logs.Redactor()))
        log.info("player {user_id} joined game {game_id}", user_id=FORGED, game_id="g\x1b]0;pwned\x07")
        return out.getvalue()

    def test_text_escapes_client_values(self):
        """A username with a newline and a timestamp writes one line, with no raw control character."""
        text = self.log_one(logs.text_file_observer)
        self.assertEqual(text.count("\n"), 1, text)
        for char in "\x1b\r\x00\x07":
            self.assertNotIn(char, text)
        self.assertIn("alice", text)

    def test_json_escapes_client_values(self):
        """One JSON line, whose fields hold the values exactly."""
        text = self.log_one(logs.json_file_observer)
        self.assertEqual(text.count("\n"), 1, text)
        for char in "\x1b\r\x00\x07":
            self.assertNotIn(char, text)
        self.assertEqual(json.loads(text)["user_id"], FORGED)


class TokenTests(SynchronousTestCase):
    """A token put raw into a path or a User-Agent is not logged."""

    def test_access_log(self):
        token = secrets.token_urlsafe(32)
        request = access_request(f"/api/games/{token}/ws".encode())
        request.requestHeaders.setRawHeaders(b"user-agent", [f"bot {token}".encode()])
        line = logs.Redactor().scrub(access_log_formatter("[01/Jan/2026:00:00:00 +0000]", request))
        self.assertNotIn(token, line)

    def test_event_field(self):
        token = secrets.token_urlsafe(32)
        out = io.StringIO()
        log = Logger(namespace="rpsa.test", observer=logs.text_file_observer(out, logs.Redactor()))
        log.info("unexpected error answering {path}", path=f"/{token}")
        self.assertNotIn(token, out.getvalue())
