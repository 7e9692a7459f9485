"""``/api/match``: a matchmaker asks for a dedicated child game server per match.

A Klein app mounted at ``/api/match`` (its routes are relative to it).
``PUT /api/match`` starts a child through the launcher and answers with its
port, the players' tokens and URLs; the same body again while the match lives
answers 200 with the same answer.  ``GET`` lists and shows matches, ``DELETE``
stops one.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Dict, List

from twisted.internet import defer
from twisted.logger import Logger

from rpsa.contract.bodies import MatchRequest
from rpsa.matches.launcher import LaunchError
from rpsa.matches.notify import MatchNotifications
from rpsa.matches.stdio import LIVE_STATES
from rpsa.play.seat import new_token
from rpsa import web

log = Logger()

def parse_match_request(request) -> Dict[str, Any]:
    """The match a PUT asks for (without tokens), or raise APIError (400, 413, 415)."""
    body = web.read_body(request, MatchRequest)
    return {"match_id": body.match_id, "rounds": 3 if body.rounds is None else body.rounds,
            "players": [{"user_id": p.user_id, "username": p.username} for p in body.players]}


def _without_tokens(request: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "match_id": request["match_id"],
        "rounds": request["rounds"],
        "players": [{"user_id": p["user_id"], "username": p["username"]} for p in request["players"]],
    }


def launch_api_error(error: LaunchError) -> web.APIError:
    """The APIError a launch error is answered with: its own status, code and message."""
    return web.APIError(error.status, error.code, error.message)


class MatchHooks:
    """Hears what the match API does (the metrics implement it); every method is a no-op here."""

    def launch_failed(self, code: str) -> None:
        """A new match could not be launched: ``code`` is the launch error's code."""


class MatchService:
    """What the match routes do with this process's launcher: start or find a match, show it, stop it.

    ``launcher``: the :class:`~rpsa.matches.launcher.MatchLauncher`; ``urls``:
    the :class:`~rpsa.web.URLBuilder`; ``events``: the
    :class:`~rpsa.matches.notify.MatchNotifications` to report launches to;
    ``draining``: an object whose ``active`` attribute is true while the server
    drains (no new matches then); ``hooks``: a :class:`MatchHooks`.  In a
    cluster it is this node's part (:class:`rpsa.cluster.matches.LocalMatches`).
    """

    def __init__(self, launcher, urls, events=None, draining=None, hooks=None):
        self.launcher = launcher
        self.urls = urls
        self.events = events if events is not None else MatchNotifications()
        self.draining = draining if draining is not None else SimpleNamespace(active=False)
        self.hooks = hooks if hooks is not None else MatchHooks()

    @defer.inlineCallbacks
    def put(self, wanted: Dict[str, Any], request=None):
        """Start (or find) the match ``wanted`` (a parsed PUT body); fires with ``(status, answer)``.

        ``request`` gives the Host of the URLs handed out when there is no ``--public-url``.
        """
        match_id = wanted["match_id"]
        existing = self.launcher.get(match_id)
        status = 201
        if existing is not None and existing.state in LIVE_STATES:
            if _without_tokens(existing.request) != wanted:
                raise web.APIError(409, "match_exists", f"match {match_id} is live with a different request")
            launch_request, status = existing.request, 200
        else:
            if self.draining.active:
                raise web.APIError(503, "draining", "the server is draining: no new matches")
            launch_request = dict(wanted, players=[dict(p, token=new_token()) for p in wanted["players"]])
        try:
            record = yield self.launcher.launch(launch_request)
        except LaunchError as e:
            if e.code == "match_exists" and existing is not None:
                # The match has ended but its child is still exiting: the id frees up in a moment.
                raise web.APIError(409, "match_ending", f"match {match_id} has just ended ({existing.state}); "
                                                    "its server is still stopping: retry in a few seconds") from None
            if status == 201:
                self.hooks.launch_failed(e.code)  # counted once, not for a repeated PUT
            raise launch_api_error(e) from None
        answer = self._answer(request, record)
        if status == 201:
            self.events.match_launched(record, answer["spectate_url"])
        return status, answer

    def get(self, match_id: str) -> Dict[str, Any]:
        """The match as the API shows it, or raise APIError 404."""
        record = self.launcher.get(match_id)
        if record is None:
            raise web.APIError(404, "match_not_found", f"no match {match_id!r}")
        return record.to_json()

    @defer.inlineCallbacks
    def delete(self, match_id: str):
        """Stop the match's child (TERM, then KILL); fires with the match as the API shows it."""
        if self.launcher.get(match_id) is None:
            raise web.APIError(404, "match_not_found", f"no match {match_id!r}")
        record = yield self.launcher.stop(match_id)
        log.info("match {match_id} stopped through the API", match_id=match_id)
        return record.to_json()

    def live_ids(self) -> List[str]:
        """The ids of the live matches."""
        return [record.match_id for record in self.launcher.list() if record.state in LIVE_STATES]

    def count(self) -> int:
        """Live matches."""
        return len(self.live_ids())

    def _answer(self, request, record) -> Dict[str, Any]:
        url = self.urls.match_url(request, record.port)
        return {
            "match_id": record.match_id,
            "port": record.port,
            "spectate_url": url,
            "players": [
                {"user_id": p["user_id"], "token": p["token"], "ws_url": f"{url}?token={p['token']}"}
                for p in record.request["players"]
            ],
        }


class MatchAPI:
    """The match launcher's HTTP API.

    ``launcher``, ``urls``, ``events``, ``draining``, ``hooks``: as for
    :class:`MatchService`, which the routes use; ``access``: the
    :class:`~rpsa.web.AccessPolicy` (API key); ``matches``: what the routes use
    instead, in a cluster (a :class:`rpsa.cluster.matches.ClusterMatches`).
    """

    app = web.new_app(translations=[(LaunchError, launch_api_error)])

    def __init__(self, launcher, urls, access, events=None, draining=None, hooks=None, matches=None):
        self.launcher = launcher
        self.access = access
        self.matches = matches if matches is not None else MatchService(launcher, urls, events, draining, hooks)

    def resource(self):
        """The Twisted Web resource serving this API (below its mount point)."""
        return self.app.resource()

    @app.route("/", methods=["PUT"])
    @web.requires_key
    @defer.inlineCallbacks
    def put_match(self, request):
        """``PUT /api/match``: start (or find) a match; fires with the JSON answer."""
        wanted = parse_match_request(request)
        status, answer = yield self.matches.put(wanted, request)
        return web.json_response(request, answer, status)

    @app.route("/", methods=["GET"])
    @web.requires_key
    def list_matches(self, request):
        """``GET /api/match``: this node's matches."""
        return web.json_response(request, {"matches": [record.to_json() for record in self.launcher.list()]})

    @app.route("/<match_id>", methods=["GET"])
    @web.requires_key
    @defer.inlineCallbacks
    def get_match(self, request, match_id):
        """``GET /api/match/{match_id}``."""
        return web.json_response(request, (yield self.matches.get(match_id)))

    @app.route("/<match_id>", methods=["DELETE"])
    @web.requires_key
    @defer.inlineCallbacks
    def delete_match(self, request, match_id):
        """``DELETE /api/match/{match_id}``: stop the child (TERM, then KILL)."""
        return web.json_response(request, (yield self.matches.delete(match_id)))

    web.add_not_found(app, "/", "no such API route", branch=True)
