"""Tests for L{rpsa.play.wire}: encoding server messages and parsing client ones."""

from twisted.trial.unittest import SynchronousTestCase

from rpsa.play import wire


class SyncPayloadTests(SynchronousTestCase):
    """wire.sync_payload is byte for byte what the JSON encoder writes."""

    def test_same_bytes_as_json(self):
        """Ints, whole and fractional floats and zero encode exactly as encoding the ``sync`` message does."""
        for health in ((100, 120), (67.5, 0), (35.000000000000014, 10.000000000000007),
                       (32.49999999999999, 1e-05), (0, 27.500000000000004)):
            message = {"type": "sync", "gameData": {"p1Health": health[0], "p2Health": health[1]}}
            self.assertEqual(wire.sync_payload(health), wire.encode(message))
