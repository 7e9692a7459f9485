"""--redis URLs: every form, the errors, and the password never shown."""

from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import TestCase

from rpsa.redis.url import RedisURL, parse_redis_url


class ParseTests(TestCase):
    def test_plain(self):
        url = parse_redis_url("redis://127.0.0.1")
        self.assertEqual((url.scheme, url.host, url.port, url.db, url.password, url.username),
                         ("redis", "127.0.0.1", 6379, 0, None, None))
        self.assertFalse(url.tls)

    def test_password_user_port_db(self):
        url = parse_redis_url("redis://alice:s%40cret@redis.example:6380/3")
        self.assertEqual((url.username, url.password, url.host, url.port, url.db),
                         ("alice", "s@cret", "redis.example", 6380, 3))

    def test_password_only(self):
        url = parse_redis_url("redis://:hunter2@localhost/1")
        self.assertEqual((url.username, url.password, url.db), (None, "hunter2", 1))

    def test_db_as_query(self):
        self.assertEqual(parse_redis_url("redis://localhost?db=4").db, 4)

    def test_ipv6(self):
        url = parse_redis_url("redis://[::1]:7000")
        self.assertEqual((url.host, url.port), ("::1", 7000))
        self.assertEqual(url.redacted(), "redis://[::1]:7000/0")

    def test_rediss(self):
        url = parse_redis_url("rediss://:pw@cache.example:6390/0")
        self.assertTrue(url.tls)
        self.assertIsNone(url.ca_file)

    def test_rediss_ca_file(self):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("x")
        url = parse_redis_url(f"rediss://cache.example?ssl_ca_certs={path}")
        self.assertEqual(url.ca_file, path)

    def test_unix(self):
        url = parse_redis_url("unix:///run/redis/redis.sock?db=2")
        self.assertEqual((url.scheme, url.path, url.db, url.password), ("unix", "/run/redis/redis.sock", 2, None))

    def test_unix_password_forms(self):
        self.assertEqual(parse_redis_url("unix://:pw@/run/redis.sock").password, "pw")
        self.assertEqual(parse_redis_url("unix:///run/redis.sock?password=pw").password, "pw")

    def test_errors(self):
        for text, expected in [
            ("http://localhost", "expected redis://, rediss:// or unix://"),
            ("redis://", "no host"),
            ("redis://localhost/x", "the database must be a number"),
            ("redis://localhost/-1", "must be 0 or more"),
            ("redis://localhost:99999", "not a valid URL"),
            ("redis://localhost?foo=1", "unknown parameter(s) foo"),
            ("redis://localhost/1?db=2", "the database is given twice"),
            ("redis://localhost#x", "fragment"),
            ("rediss://localhost?ssl_ca_certs=/nonexistent/ca.pem", "no such file"),
            ("unix://host/sock", "three slashes"),
            ("unix://", "absolute socket path"),
            ("unix://:a@/s?password=b", "the password is given twice"),
        ]:
            with self.subTest(text=text):
                with self.assertRaises(ValueError) as caught:
                    parse_redis_url(text)
                self.assertIn(expected, str(caught.exception))

    def test_errors_never_show_the_password(self):
        for text in ["redis://:topsecret@localhost/nope", "redis://u:topsecret@localhost?x=1",
                     "unix:///s?password=topsecret&x=1", "http://:topsecret@host", "redis://:topsecret@host:notaport"]:
            with self.subTest(text=text):
                with self.assertRaises(ValueError) as caught:
                    parse_redis_url(text)
                self.assertNotIn("topsecret", str(caught.exception))


class RedactionTests(TestCase):
    def test_repr_str_redacted(self):
        url = parse_redis_url("redis://bob:topsecret@localhost:6379/2")
        for text in (repr(url), str(url), url.redacted(), f"{url}", repr([url])):
            self.assertNotIn("topsecret", text)
        self.assertEqual(url.redacted(), "redis://bob:***@localhost:6379/2")

    def test_unix_redacted(self):
        url = parse_redis_url("unix:///run/r.sock?password=topsecret&db=1")
        self.assertEqual(url.redacted(), "unix://:***@/run/r.sock?db=1")

    def test_without_password(self):
        self.assertEqual(parse_redis_url("rediss://h").redacted(), "rediss://h:6379/0")


class EndpointTests(TestCase):
    def test_tcp(self):
        endpoint = parse_redis_url("redis://localhost:7000").endpoint(MemoryReactorClock(), 3)
        self.assertIsInstance(endpoint, HostnameEndpoint)

    def test_unix(self):
        endpoint = parse_redis_url("unix:///tmp/x.sock").endpoint(MemoryReactorClock(), 3)
        self.assertIsInstance(endpoint, UNIXClientEndpoint)

    def test_tls_verifies_the_host_name(self):
        from tests.support.redis import make_tls_files

        files = make_tls_files(self.mktemp())
        url = parse_redis_url(f"rediss://localhost:7000?ssl_ca_certs={files['ca']}")
        options = url.tls_options()
        # Twisted's client options built by optionsForClientTLS always check the name.
        self.assertEqual(options._hostnameASCII, "localhost")
        url.endpoint(MemoryReactorClock(), 3)  # builds

    def test_tls_ca_file_without_certificate(self):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("not a certificate\n")
        url = RedisURL("rediss", host="h", ca_file=path)
        with self.assertRaises(ValueError):
            url.tls_options()
