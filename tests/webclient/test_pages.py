"""Tests for L{rpsa.webclient.pages}: the static files, their headers, caching and policy."""

import os
import re

from treq.testing import StubTreq
from twisted.trial.unittest import SynchronousTestCase

from rpsa.webclient.pages import STATIC_DIR, WebClient, content_security_policy, load_files
from tests.lobby.apicase import KEY, APITestCase

BASE = "http://example.test"


class PagesTests(APITestCase):
    """The pages as the root app serves them: ``/`` and ``/console``, without the key."""

    api_key = KEY
    webclient = True

    def test_pages(self):
        """``/`` is the game page and ``/console`` the console, as UTF-8 HTML, needing no key."""
        for path, marker in (("/", b'data-test="create-game"'), ("/console", b'data-test="api-key"')):
            answer = self.call("GET", path, auth=None)
            self.assertEqual(answer.code, 200)
            self.assertEqual(answer.headers.getRawHeaders("content-type"), ["text/html; charset=utf-8"])
            self.assertIn(marker, answer.raw)
            self.assertIn("default-src 'none'", answer.headers.getRawHeaders("content-security-policy")[0])

    def test_files(self):
        """``/static/<name>`` serves the files."""
        answer = self.call("GET", "/static/rpsa-client.js", auth=None)
        self.assertEqual(answer.code, 200)
        self.assertIn(b"export class RpsaClient", answer.raw)
        self.assertEqual(self.call("GET", "/static/nothing.js", auth=None).code, 404)

    def test_original_websocket_url_stays(self):
        """``/?game_token=...`` is still the original server's WebSocket route (here: an unknown token)."""
        answer = self.call("GET", "/?game_token=nope&user_id=u", auth=None)
        self.assertCompatError(answer, 403)
        upgrade = self.call("GET", "/", auth=None, content_type=None)
        self.assertEqual(upgrade.code, 200)

    def test_other_paths_are_the_original_routes(self):
        """Anything else is still the original server's: 404 ``no such route``; POST / is 405, as it was."""
        self.assertCompatError(self.call("GET", "/favicon.ico", auth=None), 404)
        self.assertCompatError(self.call("POST", "/", auth=None), 405)


class WithoutPagesTests(APITestCase):
    """A root app without the web client: ``/`` is the original server's 404, as it always was."""

    def test_no_pages(self):
        self.assertCompatError(self.call("GET", "/"), 404)
        self.assertCompatError(self.call("GET", "/console"), 404)
        self.assertCompatError(self.call("GET", "/app.js"), 404)


class WebClientTests(SynchronousTestCase):
    """The files' app (mounted at /static/), through StubTreq against the real files."""

    def setUp(self):
        self.client = WebClient()
        self.treq = StubTreq(self.client.resource())

    def get(self, path, headers=None):
        response = self.successResultOf(self.treq.get(BASE + path, headers=headers or {}))
        return response, self.successResultOf(response.content())

    def test_content_types(self):
        """Scripts, styles and the icon each have their type; nothing is sniffed."""
        for name, kind in (("app.js", "text/javascript; charset=utf-8"), ("rpsa-client.js", "text/javascript; charset=utf-8"),
                           ("style.css", "text/css; charset=utf-8"), ("favicon.svg", "image/svg+xml")):
            response, body = self.get(f"/{name}")
            self.assertEqual(response.code, 200, name)
            self.assertEqual(response.headers.getRawHeaders("content-type"), [kind])
            self.assertEqual(response.headers.getRawHeaders("x-content-type-options"), ["nosniff"])
            with open(os.path.join(STATIC_DIR, name), "rb") as f:
                self.assertEqual(body, f.read())

    def test_security_headers(self):
        """Every answer carries the policy: own origin only, no inline script, no framing, no referrer."""
        response, _ = self.get("/style.css")
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
        response, _ = self.get("/app.js")
        self.assertEqual(response.headers.getRawHeaders("cache-control"), ["no-cache"])
        etag = response.headers.getRawHeaders("etag")[0]
        self.assertRegex(etag, r'^"[0-9a-f]{32}"$')
        again, body = self.get("/app.js", {"If-None-Match": [etag]})
        self.assertEqual((again.code, body), (304, b""))
        weak, _ = self.get("/app.js", {"If-None-Match": ['"other", W/' + etag]})
        self.assertEqual(weak.code, 304)
        other, _ = self.get("/app.js", {"If-None-Match": ['"other"']})
        self.assertEqual(other.code, 200)

    def test_unknown_files(self):
        """Unknown names, other directories and path tricks are 404 (only the listed files are served)."""
        for path in ("/nope.js", "/../pages.py", "/%2E%2E%2Fpages.py", "/", "/sub/app.js"):
            response, _ = self.get(path)
            self.assertEqual(response.code, 404, path)

    def test_head(self):
        """HEAD answers like GET, without a body."""
        response = self.successResultOf(self.treq.head(BASE + "/app.js"))
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
