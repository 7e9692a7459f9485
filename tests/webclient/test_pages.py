"""Tests for L{rpsa.webclient.pages}: the static files, their headers, caching and policy."""

import os
import re

from treq.testing import StubTreq
from twisted.trial.unittest import SynchronousTestCase

from rpsa.webclient.pages import STATIC_DIR, WebClient, content_security_policy, load_files

BASE = "http://example.test"


class WebClientTests(SynchronousTestCase):
    """Requests through StubTreq against the real files."""

    def setUp(self):
        self.client = WebClient()
        self.treq = StubTreq(self.client.resource())

    def get(self, path, headers=None):
        response = self.successResultOf(self.treq.get(BASE + path, headers=headers or {}))
        return response, self.successResultOf(response.content())

    def test_pages(self):
        """``/`` is the game page and ``/console`` the console, as UTF-8 HTML."""
        for path, marker in (("/", b'data-test="create-game"'), ("/console", b'data-test="api-key"')):
            response, body = self.get(path)
            self.assertEqual(response.code, 200)
            self.assertEqual(response.headers.getRawHeaders("content-type"), ["text/html; charset=utf-8"])
            self.assertIn(marker, body)

    def test_content_types(self):
        """Scripts, styles and the icon each have their type; nothing is sniffed."""
        for name, kind in (("app.js", "text/javascript; charset=utf-8"), ("rpsa-client.js", "text/javascript; charset=utf-8"),
                           ("style.css", "text/css; charset=utf-8"), ("favicon.svg", "image/svg+xml")):
            response, body = self.get(f"/static/{name}")
            self.assertEqual(response.code, 200, name)
            self.assertEqual(response.headers.getRawHeaders("content-type"), [kind])
            self.assertEqual(response.headers.getRawHeaders("x-content-type-options"), ["nosniff"])
            with open(os.path.join(STATIC_DIR, name), "rb") as f:
                self.assertEqual(body, f.read())

    def test_security_headers(self):
        """Every answer carries the policy: own origin only, no inline script, no framing, no referrer."""
        response, _ = self.get("/")
        policy = response.headers.getRawHeaders("content-security-policy")[0]
        self.assertIn("default-src 'none'", policy)
        self.assertIn("script-src 'self';", policy)
        self.assertIn("connect-src 'self';", policy)
        self.assertIn("frame-ancestors 'none'", policy)
        self.assertEqual(response.headers.getRawHeaders("referrer-policy"), ["no-referrer"])
        self.assertEqual(response.headers.getRawHeaders("x-frame-options"), ["DENY"])

    def test_connect_sources(self):
        """Another WebSocket origin can be allowed (a public URL on another host)."""
        policy = content_security_policy(["wss://games.example.org"]).decode()
        self.assertIn("connect-src 'self' wss://games.example.org;", policy)

    def test_caching(self):
        """``no-cache`` with a strong ETag; the same ETag again answers 304 with no body."""
        response, _ = self.get("/static/app.js")
        self.assertEqual(response.headers.getRawHeaders("cache-control"), ["no-cache"])
        etag = response.headers.getRawHeaders("etag")[0]
        self.assertRegex(etag, r'^"[0-9a-f]{32}"$')
        again, body = self.get("/static/app.js", {"If-None-Match": [etag]})
        self.assertEqual((again.code, body), (304, b""))
        weak, _ = self.get("/static/app.js", {"If-None-Match": ['"other", W/' + etag]})
        self.assertEqual(weak.code, 304)
        other, _ = self.get("/static/app.js", {"If-None-Match": ['"other"']})
        self.assertEqual(other.code, 200)

    def test_unknown_files(self):
        """Unknown names, other directories and path tricks are 404 (only the listed files are served)."""
        for path in ("/static/nope.js", "/static/../pages.py", "/static/%2E%2E%2Fpages.py", "/static/"):
            response, _ = self.get(path)
            self.assertEqual(response.code, 404, path)

    def test_head(self):
        """HEAD answers like GET, without a body."""
        response = self.successResultOf(self.treq.head(BASE + "/"))
        self.assertEqual(response.code, 200)


class FilesTests(SynchronousTestCase):
    """The shipped files themselves."""

    def test_only_local_references(self):
        """No page or script loads anything from another origin, and no page has inline script or style."""
        files = load_files()
        for name, static in files.items():
            text = static.body.decode("utf-8")
            self.assertIsNone(re.search(r"""(src|href)=["']?(https?:)?//""", text), name)
            self.assertNotIn("import(", text, name)
            if name.endswith(".html"):
                self.assertIsNone(re.search(r"<script(?![^>]*\bsrc=)", text), f"inline script in {name}")
                self.assertNotIn("style=", text, f"inline style in {name}")
                self.assertNotIn("<style", text, f"inline style in {name}")
                self.assertNotRegex(text, r"\son[a-z]+=", f"inline handler in {name}")

    def test_module_imports_resolve(self):
        """Every ES module import names a shipped file."""
        files = load_files()
        for name, static in files.items():
            if name.endswith(".js"):
                for target in re.findall(r"""from\s+["']\./([^"']+)["']""", static.body.decode()):
                    self.assertIn(target, files, f"{name} imports {target}")

    def test_ui_hooks(self):
        """The page carries the stable data-test hooks the issue names."""
        page = load_files()["index.html"].body.decode() + load_files()["app.js"].body.decode()
        for hook in ("username", "create-game", "play-bot", "game-row", "join", "watch", "fighter", "ready",
                     "weapon", "health", "game-state", "winner", "connection"):
            self.assertIn(f'"data-test": "{hook}"' if hook in ("game-row", "join", "watch", "fighter") else f'data-test="{hook}"',
                          page, hook)
