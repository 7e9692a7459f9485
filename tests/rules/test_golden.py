"""Conformance: every recorded match replays event for event through the engine."""

import json
import os

from twisted.trial.unittest import SynchronousTestCase

from rpsa.tools.replay import replay_match

RECORDINGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "engine-transcripts.jsonl")


def _typed(value):
    """Tag every leaf with its type, so that 25 and 25.0 compare different."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, value)


def _load_recordings():
    with open(RECORDINGS, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class GoldenReplayTests(SynchronousTestCase):
    """One test per recorded match (generated below)."""

    def test_all_recordings_present(self):
        """The suite's copy of the recordings holds all 60 matches."""
        self.assertEqual(len(_load_recordings()), 60)


def _make_test(record):
    def test(self):
        result = replay_match(record)
        self.assertEqual(result["name"], record["name"])
        self.assertEqual(len(result["events"]), len(record["events"]))
        for index, (got, expected) in enumerate(zip(result["events"], record["events"])):
            self.assertEqual(_typed(got), _typed(expected), f"event {index} differs")
        self.assertEqual(result["winner"], record["winner"])
        self.assertEqual(result["ticks"], record["ticks"])

    test.__doc__ = f"Recording {record['name']} replays exactly: events, health, winner and ticks."
    return test


for _record in _load_recordings():
    _name = "test_" + _record["name"].replace("-", "_")
    setattr(GoldenReplayTests, _name, _make_test(_record))
del _record, _name
