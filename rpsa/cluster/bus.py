"""The bus: a node asks the owner of a game or match to act on it, over Redis pub/sub, and waits for the reply.

Each node subscribes to its own channel (``PREFIX bus:NODE``, through a
:class:`~rpsa.redis.pubsub.Subscriber`) and hears there both the requests other nodes send
it and the replies to its own.  :meth:`Bus.request` publishes a request on the owner's
channel and fires with the owner's result, or fails with
:class:`~rpsa.cluster.errors.RemoteError` (the owner's error: status, code, message) or
:class:`~rpsa.cluster.errors.OwnerUnreachable` (nobody subscribed to the owner's channel,
or no reply within the timeout).  A request that reaches a node is handed to its
:class:`RequestHandler`; the message formats are in :mod:`rpsa.redis.schema` ("The bus").
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any, Dict, Optional, Tuple

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from rpsa.cluster.errors import DirectoryUnavailable, OwnerUnreachable, RemoteError, guarded
from rpsa.web import APIError

log = Logger()


class RequestHandler:
    """Does what other nodes ask of this one; the default knows no operation.

    :meth:`handle_request` returns the result (JSON-able) or a Deferred of it, or raises
    (or fails with) an :class:`~rpsa.web.APIError`, which reaches the asking node as a
    :class:`~rpsa.cluster.errors.RemoteError`.
    """

    def handle_request(self, op: str, args: Dict[str, Any], sender: str):
        raise APIError(400, "unknown_operation", f"this node knows no operation {op!r}")


class Operations(RequestHandler):
    """Hands each request to the handler named for its operation.

    :param handlers: maps operation names to the :class:`RequestHandler` doing them.
    """

    def __init__(self, handlers: Dict[str, RequestHandler]):
        self._handlers = dict(handlers)

    def handle_request(self, op: str, args: Dict[str, Any], sender: str):
        handler = self._handlers.get(op)
        if handler is None:
            return super().handle_request(op, args, sender)
        return handler.handle_request(op, args, sender)


class BusObserver:
    """Hears each forwarded request's outcome (the metrics); a no-op here."""

    def forwarded(self, op: str, owner: str, outcome: str, seconds: float) -> None:
        """A request this node sent to ``owner`` ended: ``outcome`` is ``ok``, an error code, or ``owner_unreachable``."""


class Bus(service.Service):
    """Requests to other nodes and replies to theirs.

    :param reactor: the reactor (timeouts).
    :param connection: the command :class:`~rpsa.redis.connection.RedisConnection` (``PUBLISH``).
    :param keys: the :class:`~rpsa.redis.schema.Keys` (channel names).
    :param node: this node's name.
    :param handler: the :class:`RequestHandler` for requests other nodes send this one.
    :param observer: a :class:`BusObserver`.
    """

    def __init__(self, reactor, connection, keys, node: str, handler: RequestHandler = None,
                 observer: BusObserver = None):
        self._reactor = reactor
        self._connection = connection
        self._keys = keys
        self.node = node
        self.channel = keys.bus(node)
        self._handler = handler if handler is not None else RequestHandler()
        self._observer = observer if observer is not None else BusObserver()
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self._pending: Dict[str, Tuple[defer.Deferred, Any]] = {}

    def stopService(self):
        super().stopService()
        pending, self._pending = self._pending, {}
        for d, timer in pending.values():
            if timer.active():
                timer.cancel()
            d.errback(DirectoryUnavailable("this node is stopping"))
        return defer.succeed(None)

    # -- asking ----------------------------------------------------------------------------

    def request(self, owner: str, op: str, args: Dict[str, Any], timeout: float) -> defer.Deferred:
        """Ask node ``owner`` to do ``op`` with ``args``; a Deferred with its result (see the module docstring)."""
        request_id = f"{self._prefix}-{next(self._ids)}"
        started = self._reactor.seconds()
        d = defer.Deferred()
        timer = self._reactor.callLater(timeout, self._timed_out, request_id, owner, timeout)
        self._pending[request_id] = (d, timer)
        message = json.dumps({"id": request_id, "from": self.node, "op": op, "args": args}, separators=(",", ":"))
        sent = guarded(self._connection, lambda: self._connection.execute("PUBLISH", self._keys.bus(owner), message))
        sent.addCallbacks(self._published, self._not_published, callbackArgs=(request_id, owner, timeout),
                          errbackArgs=(request_id,))

        def outcome(result):
            if not isinstance(result, Failure):
                code = "ok"
            else:
                code = result.value.code if isinstance(result.value, APIError) else "error"
            self._observer.forwarded(op, owner, code, self._reactor.seconds() - started)
            return result

        return d.addBoth(outcome)

    def _published(self, receivers, request_id: str, owner: str, timeout: float) -> None:
        if int(receivers or 0) == 0:
            self._settle(request_id, failure=OwnerUnreachable(owner, timeout))

    def _not_published(self, failure, request_id: str) -> None:
        self._settle(request_id, failure=failure.value if failure.check(APIError) else DirectoryUnavailable())

    def _timed_out(self, request_id: str, owner: str, timeout: float) -> None:
        self._settle(request_id, failure=OwnerUnreachable(owner, timeout))

    def _settle(self, request_id: str, result: Any = None, failure: Optional[Exception] = None) -> None:
        entry = self._pending.pop(request_id, None)
        if entry is None:
            return  # settled already (a late reply, or a reply after the timeout)
        d, timer = entry
        if timer.active():
            timer.cancel()
        if failure is not None:
            d.errback(failure)
        else:
            d.callback(result)

    # -- hearing ---------------------------------------------------------------------------

    def message(self, channel: str, text: str) -> None:
        """A message on this node's channel (give this to the :class:`~rpsa.redis.pubsub.Subscriber`)."""
        try:
            message = json.loads(text)
        except ValueError:
            log.warn("cluster: a message that is not JSON on {channel}, ignored", channel=channel)
            return
        if not isinstance(message, dict):
            return
        if "re" in message:
            error = message.get("error")
            if isinstance(error, dict):
                self._settle(str(message["re"]), failure=RemoteError(
                    int(error.get("status", 500)), str(error.get("code", "internal_error")),
                    str(error.get("message", ""))))
            else:
                self._settle(str(message["re"]), result=message.get("result"))
            return
        request_id, sender, op = message.get("id"), message.get("from"), message.get("op")
        if not (isinstance(request_id, str) and isinstance(sender, str) and isinstance(op, str)):
            log.warn("cluster: a malformed request on {channel}, ignored", channel=channel)
            return
        args = message.get("args") if isinstance(message.get("args"), dict) else {}
        d = defer.maybeDeferred(self._handler.handle_request, op, args, sender)
        d.addCallbacks(lambda result: {"re": request_id, "result": result},
                       lambda failure: {"re": request_id, "error": self._error(failure, op, sender)})
        d.addCallback(self._reply, sender)

    def _error(self, failure, op: str, sender: str) -> Dict[str, Any]:
        if failure.check(APIError):
            error = failure.value
            return {"status": error.status, "code": error.code, "message": error.message}
        log.failure("cluster: request {op} from node {node} failed", failure, op=op, node=sender, owner=self.node)
        return {"status": 500, "code": "internal_error", "message": "internal server error"}

    def _reply(self, reply: Dict[str, Any], sender: str) -> defer.Deferred:
        text = json.dumps(reply, separators=(",", ":"))
        d = guarded(self._connection, lambda: self._connection.execute("PUBLISH", self._keys.bus(sender), text))
        d.addErrback(lambda f: log.warn("cluster: could not reply to node {node} ({reason})", node=sender,
                                        reason=f.getErrorMessage()))
        return d
