"""rpsa.urls: the URLs handed out, from --public-url (http(s) or ws(s)), a node's, or the request's Host."""

from twisted.trial.unittest import SynchronousTestCase as TestCase
from twisted.web.test.requesthelper import DummyRequest

from rpsa.urls import URLBuilder, public_base


def request(host=b"games.test:8080"):
    r = DummyRequest([b""])
    r.requestHeaders.setRawHeaders(b"host", [host])
    r.isSecure = lambda: False
    return r


class PublicBaseTests(TestCase):
    def test_http_and_ws_schemes_alike(self):
        self.assertEqual(public_base("https://g.example/n/1/"), "wss://g.example/n/1")
        self.assertEqual(public_base("wss://g.example/n/1"), "wss://g.example/n/1")
        self.assertEqual(public_base("http://g.example:8080"), "ws://g.example:8080")
        self.assertEqual(public_base("ws://g.example:8080"), "ws://g.example:8080")

    def test_invalid_urls(self):
        for url in ("ftp://g.example", "https://", "https://g.example/?a=1", "https://g.example/#x",
                    "http://g.example:99999", "g.example"):
            self.assertIsNone(public_base(url), url)


class URLBuilderTests(TestCase):
    def test_a_game_of_this_node_or_of_another(self):
        urls = URLBuilder("wss://games.example.com/n/a")
        self.assertEqual(urls.game_urls(request(), "g 1", "t/k"),
                         {"ws_url": "wss://games.example.com/n/a/api/games/g%201/ws?token=t%2Fk",
                          "spectate_url": "wss://games.example.com/n/a/api/games/g%201/ws"})
        other = urls.game_urls(request(), "g", "t", public_url="https://games.example.com/n/b")
        self.assertEqual(other["spectate_url"], "wss://games.example.com/n/b/api/games/g/ws")

    def test_without_a_public_url_the_request_host(self):
        self.assertEqual(URLBuilder().game_urls(request(), "g", "t")["spectate_url"], "ws://games.test:8080/api/games/g/ws")

    def test_a_match_from_the_template_or_its_own_port(self):
        self.assertEqual(URLBuilder("https://g.example", "wss://g.example/m/{port}/ws").match_url(request(), 9001),
                         "wss://g.example/m/9001/ws")
        self.assertEqual(URLBuilder("https://g.example").match_url(request(), 9001), "ws://g.example:9001/ws")
        self.assertEqual(URLBuilder().match_url(request(), 9001), "ws://games.test:9001/ws")
