"""The relay over real local sockets: bytes spliced both ways to the owner (a TCP server here), bounded while it connects."""

from twisted.internet import defer, endpoints, protocol, reactor
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from rpsa.cluster.relay import MAX_BUFFERED, RelayFactory, RelayObserver, owner_endpoint
from tests.support.polling import wait_until


class Owner(protocol.Protocol):
    """Records what it hears; answers each chunk with ``ack:<n>``."""

    def connectionMade(self):
        self.factory.connections.append(self)
        self.heard = b""

    def dataReceived(self, data):
        self.heard += data
        self.transport.write(b"ack:%d;" % len(data))


class Observer(RelayObserver):
    def __init__(self):
        self.events = []

    def relay_opened(self, owner):
        self.events.append(("opened", owner))

    def relay_failed(self, owner):
        self.events.append(("failed", owner))




class RelayTests(TestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.owner_factory = protocol.Factory.forProtocol(Owner)
        self.owner_factory.connections = []
        self.port = yield endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(self.owner_factory)
        self.addCleanup(self.port.stopListening)
        self.observer = Observer()

    def splice(self, port=None):
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port or self.port.getHost().port)
        splice = RelayFactory(endpoint, "a", "b", self.observer).buildProtocol(None)
        client = StringTransport()
        splice.makeConnection(client)
        return splice, client

    @defer.inlineCallbacks
    def test_bytes_go_both_ways_unchanged_and_a_close_closes_the_other_side(self):
        splice, client = self.splice()
        splice.dataReceived(b"GET /?game_token=t HTTP/1.1\r\n\r\n")  # before the owner answers: buffered
        yield wait_until(lambda: self.owner_factory.connections and self.owner_factory.connections[0].heard)
        owner = self.owner_factory.connections[0]
        self.assertEqual(owner.heard, b"GET /?game_token=t HTTP/1.1\r\n\r\n")
        yield wait_until(lambda: client.value())
        self.assertEqual(client.value(), b"ack:31;")
        splice.dataReceived(b"\x81\x02hi")
        yield wait_until(lambda: owner.heard.endswith(b"\x81\x02hi"))
        self.assertEqual(self.observer.events, [("opened", "b")])
        owner.transport.loseConnection()
        yield wait_until(lambda: client.disconnecting)

    @defer.inlineCallbacks
    def test_the_client_closing_closes_the_owners_connection(self):
        splice, client = self.splice()
        yield wait_until(lambda: self.owner_factory.connections)
        yield wait_until(lambda: splice._owner is not None)
        owner = self.owner_factory.connections[0]
        lost = defer.Deferred()
        owner.connectionLost = lambda reason: lost.callback(None)
        splice.connectionLost(None)
        yield lost

    @defer.inlineCallbacks
    def test_an_unreachable_owner_closes_the_clients_connection(self):
        port = self.port.getHost().port
        yield self.port.stopListening()
        splice, client = self.splice(port)
        yield wait_until(lambda: client.disconnecting)
        self.assertEqual(self.observer.events, [("failed", "b")])

    def test_a_client_that_sends_too_much_before_the_owner_answers_is_cut_off(self):
        splice, client = self.splice()
        splice.dataReceived(b"x" * (MAX_BUFFERED + 1))
        self.assertTrue(client.disconnecting or getattr(client, "aborting", False))
        return wait_until(lambda: self.owner_factory.connections).addCallback(
            lambda _: wait_until(lambda: not self.owner_factory.connections[0].transport.connected))


class EndpointTests(TestCase):
    def test_the_owners_public_url_gives_the_endpoint_prefix_and_host(self):
        _, prefix, host = owner_endpoint(reactor, "wss://games.example.com/n/8001/")
        self.assertEqual((prefix, host), ("/n/8001", "games.example.com"))
        endpoint, prefix, host = owner_endpoint(reactor, "http://10.0.0.2:8080")
        self.assertEqual((prefix, host), ("", "10.0.0.2:8080"))
        self.assertIsInstance(endpoint, endpoints.HostnameEndpoint)
