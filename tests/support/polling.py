"""Waiting, in a bounded loop on the real reactor, for something a real process or socket brings about."""

from twisted.internet import defer, reactor, task


@defer.inlineCallbacks
def wait_until(predicate, timeout=10.0, step=0.05):
    """Poll ``predicate`` every ``step`` seconds until it is true; fail after ``timeout`` seconds."""
    for _ in range(int(timeout / step)):
        if predicate():
            return
        yield task.deferLater(reactor, step, lambda: None)
    raise AssertionError(f"not true within {timeout}s: {predicate}")
