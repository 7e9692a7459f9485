"""Match notifications: POST events as JSON to a URL, retrying with exponential backoff.

A :class:`Notifier` never raises to its caller: :meth:`Notifier.post`
returns a Deferred that fires with ``True`` once the event was delivered (a
2xx answer) and ``False`` once it gave up (``attempts`` failures, each logged)
or was stopped.  The events are built by the caller, e.g.
``{"event": "match_ready", "match_id", "port", "spectate_url"}`` or
``{"event": "match_ended", "match_id", "result" or "reason"}``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Set

import treq
from twisted.internet.defer import CancelledError, Deferred, DeferredList, TimeoutError, succeed
from twisted.internet.task import deferLater
from twisted.logger import Logger

log = Logger()


class NotifyError(Exception):
    """The notification URL answered with a status outside 2xx."""


def _discard(data: bytes) -> None:
    pass


class Notifier:
    """POSTs events to ``url`` with a treq ``HTTPClient`` (default: the ``treq`` module).

    After :meth:`stop` it sends nothing more.  Attempt ``n`` that fails (a connection error, a non-2xx status, or no
    complete answer within ``timeout`` seconds) is followed by attempt
    ``n + 1`` after ``backoff * 2 ** (n - 1)`` seconds, up to ``attempts``
    attempts in all.
    """

    def __init__(
        self,
        url: str,
        reactor,
        treq_client=None,
        attempts: int = 5,
        backoff: float = 1.0,
        timeout: float = 10.0,
    ):
        self._url = url
        self._reactor = reactor
        self._client = treq if treq_client is None else treq_client
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._timeout = timeout
        self._waiting: Set[Deferred] = set()  # requests and back-off sleeps in flight
        self._posts: Set[Deferred] = set()  # the Deferreds of unfinished posts
        self._stopped = False

    def post(self, event: Dict[str, Any]) -> Deferred:
        """Deliver ``event``; fire with ``True`` (delivered) or ``False`` (gave up or stopped)."""
        if self._stopped:
            log.info("notifier stopped: not sending {what}", what=_describe(event))
            return succeed(False)
        d = Deferred.fromCoroutine(self._deliver(event))
        d.addErrback(self._bug, event)
        if not d.called:
            self._posts.add(d)
            d.addBoth(self._forget, d)
        return d

    def stop(self) -> Deferred:
        """Cancel pending requests and retries; fire once every post has finished (with ``False``)."""
        self._stopped = True
        for waiting in list(self._waiting):
            waiting.cancel()
        return DeferredList(list(self._posts)).addCallback(lambda _: None)

    async def _deliver(self, event: Dict[str, Any]) -> bool:
        what = _describe(event)
        for attempt in range(1, self._attempts + 1):
            try:
                await self._track(Deferred.fromCoroutine(self._attempt(event)).addTimeout(self._timeout, self._reactor))
            except Exception as e:
                if self._stopped:
                    log.info("notifier stopped: abandoned {what}", what=what)
                    return False
                log.warn(
                    "notification {what} to {url} failed (attempt {attempt} of {attempts}): {error}",
                    what=what,
                    url=self._url,
                    attempt=attempt,
                    attempts=self._attempts,
                    error=_reason(e),
                )
            else:
                log.debug("notification {what} delivered", what=what)
                return True
            if attempt < self._attempts:
                delay = self._backoff * 2 ** (attempt - 1)
                try:
                    await self._track(deferLater(self._reactor, delay, lambda: None))
                except CancelledError:
                    log.info("notifier stopped: abandoned {what}", what=what)
                    return False
        log.error("gave up on notification {what} to {url} after {attempts} attempts", what=what, url=self._url, attempts=self._attempts)
        return False

    async def _attempt(self, event: Dict[str, Any]) -> None:
        response = await self._client.post(self._url, json=event, reactor=self._reactor)
        # Read (and drop) the body so the connection can be reused.
        await treq.collect(response, _discard)
        if not 200 <= response.code < 300:
            raise NotifyError(f"HTTP status {response.code}")

    async def _track(self, d: Deferred) -> Any:
        """Await ``d``, which :meth:`stop` cancels meanwhile."""
        self._waiting.add(d)
        try:
            return await d
        finally:
            self._waiting.discard(d)

    def _forget(self, result: Any, d: Deferred) -> Any:
        self._posts.discard(d)
        return result

    def _bug(self, failure, event: Dict[str, Any]) -> bool:
        log.failure("notification {what}: unexpected error", failure, what=_describe(event))
        return False


def _describe(event: Dict[str, Any]) -> str:
    return f"{event.get('event', '?')} for match {event.get('match_id', '?')}"


def _reason(error: Exception) -> str:
    if isinstance(error, TimeoutError):
        return "no answer in time"
    reasons = getattr(error, "reasons", None)  # treq/Agent's ResponseFailed and friends
    if reasons:
        text = "; ".join(reason.getErrorMessage() for reason in reasons[:3])
    else:
        text = str(error) or type(error).__name__
    return text[:300]
