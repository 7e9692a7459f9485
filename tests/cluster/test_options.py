"""The cluster's options: checks, and the node name and public URL a node gets by default."""

import socket

from twisted.python import usage
from twisted.trial.unittest import TestCase

from rpsa.cluster.options import check_options


def options(**given):
    values = {"redis": None, "listen": ["tcp:8080:interface=127.0.0.1"], "public-url": None, "node-name": None,
              "forward-timeout": 5.0, "match-public-url": None}
    values.update(given)
    return values


class CheckTests(TestCase):
    def test_without_redis_nothing_is_filled_in(self):
        checked = options()
        check_options(checked)
        self.assertEqual((checked["node-name"], checked["public-url"]), (None, None))

    def test_with_redis_the_node_is_named_by_host_and_port_and_reached_at_its_listener(self):
        checked = options(redis="redis://x", listen=["systemd:domain=INET:index=0", "tcp:8081:interface=10.0.0.5"])
        check_options(checked)
        self.assertEqual(checked["node-name"], f"{socket.gethostname()}:8081")
        self.assertEqual(checked["public-url"], "http://10.0.0.5:8081")

    def test_node_in_the_public_url_is_the_node_name(self):
        checked = options(redis="redis://x", **{"node-name": "h-8001", "public-url": "https://g.example/n/{node}"})
        check_options(checked)
        self.assertEqual(checked["public-url"], "https://g.example/n/h-8001")

    def test_given_values_are_kept(self):
        checked = options(redis="redis://x", **{"node-name": "n1", "public-url": "wss://g.example/n/1"})
        check_options(checked)
        self.assertEqual((checked["node-name"], checked["public-url"]), ("n1", "wss://g.example/n/1"))

    def test_a_node_without_a_tcp_listener_must_say_where_it_is_reached(self):
        error = self.assertRaises(usage.UsageError, check_options,
                                  options(redis="redis://x", listen=["unix:/run/rpsa.sock"]))
        self.assertIn("--public-url", str(error))

    def test_bad_values_are_refused_naming_the_option(self):
        for given, option in ((options(**{"node-name": "two words"}), "--node-name"),
                              (options(**{"forward-timeout": "0"}), "--forward-timeout"),
                              (options(**{"forward-timeout": "soon"}), "--forward-timeout"),
                              (options(**{"match-public-url": "wss://g.example/m/ws"}), "--match-public-url"),
                              (options(**{"match-public-url": "ftp://g.example/{port}"}), "--match-public-url")):
            self.assertIn(option, str(self.assertRaises(usage.UsageError, check_options, given)))

    def test_a_match_template_is_accepted(self):
        checked = options(**{"match-public-url": "wss://games.example.com/m/{port}/ws", "forward-timeout": "2.5"})
        check_options(checked)
        self.assertEqual(checked["forward-timeout"], 2.5)

