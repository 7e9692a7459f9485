"""The OpenAPI 3.1 document of every HTTP route rpsa serves, built from the code's structures.

The route table below (:data:`OPERATIONS`) names each operation, its body and
its answers by status; the schemas come from :mod:`rpsa.contract.bodies` and
:mod:`rpsa.contract.messages` (both WebSocket directions, in
``components.schemas``).  The document is served at ``/openapi.json`` and kept
in the repository as ``docs/openapi.json``:

    python -m rpsa.contract.openapi > docs/openapi.json

Tests keep it honest: the committed copy must equal :func:`document`; the
routes the Klein apps serve must be exactly those of the table; every answer
the API tests and the fuzzer get must have a documented status and conform to
its schema.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Tuple

import msgspec

from rpsa.contract import bodies, messages

JSON = "application/json"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REF = "#/components/schemas/{name}"


@dataclass(frozen=True)
class Operation:
    """One route and method: its body (a structure, or None) and its answers ``{status: (schema, description)}``.

    A schema is a structure, ``None`` (no body), ``"null"`` (JSON ``null``),
    ``"names"`` (a JSON array of game ids), ``"metrics"`` (Prometheus text),
    ``"document"`` (this document), ``"html"`` (a page), ``"files"`` (a file
    of the web client, by its type) or ``"text"`` (plain text); or a tuple of
    those, one per content type.
    """

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    answers: Dict[int, Tuple[Any, str]]
    body: Any = None
    key: bool = True  # needs the API key when one is configured
    parameters: Tuple[Tuple[str, str, str], ...] = ()  # (name, "path"|"query", description)
    extra: Dict[str, Any] = field(default_factory=dict)
    links: Dict[int, Dict[str, Any]] = field(default_factory=dict)  # {status: {name: (operation id, {param: expr})}}


_NATIVE_ERRORS = {
    400: (bodies.ErrorAnswer, "a field is missing or invalid (`bad_field`), or the body is not a JSON object "
                              "(`invalid_json`, also for nesting deeper than 32 levels)"),
    413: (bodies.ErrorAnswer, "the body is over 16 KiB"),
    415: (bodies.ErrorAnswer, "the body is not sent as JSON"),
}
_KEY = {401: (bodies.ErrorAnswer, "the API key is missing or wrong")}
_COMPAT_KEY = {401: (bodies.CompatErrorAnswer, "the API key is missing or wrong")}
_COMPAT_BODY = {400: (bodies.CompatErrorAnswer, "a field is missing or invalid, the body is not a JSON object, "
                                                "or the lobby refuses (the message says why)"),
                413: (bodies.CompatErrorAnswer, "the body is over 16 KiB")}
_WS = {101: (None, "switching to the WebSocket protocol"),
       426: (bodies.ErrorAnswer, "not a WebSocket upgrade request")}
_WS_MESSAGES = {"x-websocket-messages": {"client": {"$ref": REF.format(name="ClientMessage")},
                                         "server": {"$ref": REF.format(name="ServerMessage")}}}
GAME_ID = ("game_id", "path", "the game id (percent-encoded; a '/' as %2F)")
USER_ID = ("user_id", "path", "the player's user id")
MATCH_ID = ("match_id", "path", "the match id")
_RATE_LIMITED = {429: (bodies.ErrorAnswer, "`rate_limited`: with --public-lobby, anonymous creates and joins are "
                                          "limited per address; Retry-After says when to try again")}
_PAGE = {200: ("html", "the page"), 304: (None, "the client's copy is current (If-None-Match)")}
_CORS_REFUSED = "with --cors-origin: a preflight from an origin that is not allowed (rpsa.cors)"
_DIRECTORY = "`directory_unavailable`: with --redis, the cluster's directory (Redis) is unreachable"
_OWNER = "`owner_unreachable`: with --redis, the node holding it did not answer in time"


def _clustered(responses, forwarded: bool = True, error=bodies.ErrorAnswer):
    """``responses`` with a cluster's answers: 503 when its directory is unreachable, and (``forwarded``:
    the request may be carried to another node) 504 when that node does not answer in time."""
    out = dict(responses)
    for status, text in ((503, _DIRECTORY), (504, _OWNER))[:2 if forwarded else 1]:
        if error is not bodies.ErrorAnswer:
            text = text.split(": ", 1)[1]  # the original routes' errors carry a message only
        schema, known = out.get(status, (error, None))
        out[status] = (schema, f"{known}; or {text}" if known else text)
    return out


RETRY_AFTER = {"Retry-After": {"description": "whole seconds to wait", "schema": {"type": "integer", "minimum": 1}}}
_GAME_LINKS = {name: (op, {"game_id": "$response.body#/game_id"})
               for name, op in (("GetGame", "get_game"), ("JoinGame", "join_game"), ("RemoveGame", "remove_game"))}
_MATCH_LINKS = {name: (op, {"match_id": "$response.body#/match_id"})
                for name, op in (("GetMatch", "get_match"), ("StopMatch", "stop_match"))}



OPERATIONS: List[Operation] = [
    Operation("GET", "/healthz", "health", "Whether the server takes work", "service",
              {200: (bodies.Health, "serving (`degraded`: a dependency such as Redis is down, which it "
                                    "serves without; not a reason to restart it)"),
               503: (bodies.Health, "draining: no new games or matches")}, key=False),
    Operation("GET", "/metrics", "metrics", "Prometheus metrics", "service",
              {200: ("metrics", "the metrics"), **_KEY, 404: (bodies.ErrorAnswer, "metrics are off")}),
    Operation("GET", "/openapi.json", "openapi", "This document", "service", {200: ("document", "the document")},
              key=False),
    Operation("GET", "/api/access", "access", "What a client needs to know first: the key, the public lobby, bots",
              "lobby", {200: (bodies.Access, "the server's access rules")}, key=False),
    Operation("GET", "/api/characters", "list_characters", "The fighters", "lobby",
              {200: (bodies.Characters, "every fighter"), **_KEY}),
    Operation("POST", "/api/games", "create_game", "Create a game; the creator gets seat 1", "lobby",
              {201: (bodies.Seat, "the game and the creator's seat"), **_NATIVE_ERRORS, **_KEY,
               409: (bodies.ErrorAnswer, "`game_exists`"), **_RATE_LIMITED,
               503: (bodies.ErrorAnswer, "`too_many_games` or `draining`")}, body=bodies.CreateGame,
              links={201: _GAME_LINKS}),
    Operation("GET", "/api/games", "list_games", "Live games, oldest first", "lobby",
              {200: (bodies.GameList, "the games"), **_KEY},
              parameters=(("joinable", "query", "true, 1 or yes: only games a player can join"),)),
    Operation("GET", "/api/games/{game_id}", "get_game", "One game", "lobby",
              {200: (bodies.GameSummary, "the game"), **_KEY, 404: (bodies.ErrorAnswer, "`game_not_found`")},
              parameters=(GAME_ID,)),
    Operation("DELETE", "/api/games/{game_id}", "remove_game", "Remove a game (its connections close with 4100)",
              "lobby", {200: (bodies.GameRemoved, "removed"), **_KEY, 404: (bodies.ErrorAnswer, "`game_not_found`")},
              parameters=(GAME_ID,)),
    Operation("POST", "/api/games/{game_id}/players", "join_game", "Take seat 2", "lobby",
              {201: (bodies.Seat, "the joiner's seat"), **_NATIVE_ERRORS, **_KEY,
               404: (bodies.ErrorAnswer, "`game_not_found`"),
               409: (bodies.ErrorAnswer, "`game_full` or `already_joined`"), **_RATE_LIMITED,
               503: (bodies.ErrorAnswer, "`draining`")}, body=bodies.JoinGame, parameters=(GAME_ID,),
              # No link to remove_player: its user_id would come from the request body, and a fuzzer puts a
              # body's "a%41" into the path as is (the server then reads "aA", another user).
              links={201: {"GetJoinedGame": ("get_game", {"game_id": "$response.body#/game_id"})}}),
    Operation("DELETE", "/api/games/{game_id}/players/{user_id}", "remove_player",
              "Remove player 2 (4101 to it, 4003 to the others)", "lobby",
              {200: (bodies.PlayerRemoved, "removed"), **_KEY,
               404: (bodies.ErrorAnswer, "`game_not_found` or `player_not_found`"),
               409: (bodies.ErrorAnswer, "`cannot_remove_host`")}, parameters=(GAME_ID, USER_ID)),
    Operation("GET", "/api/games/{game_id}/ws", "play_game", "A game's WebSocket (players with ?token=, spectators without)",
              "play", {**_WS, 403: (None, "the token does not open a seat of this game (refused in the handshake)"),
                       404: (bodies.ErrorAnswer, "`game_not_found`"),
                       503: (None, "no room for another spectator (refused in the handshake)")},
              key=False, parameters=(GAME_ID, ("token", "query", "the player's seat token (absent: spectate)"),
                                     ("user_id", "query", "the token's user id (optional check)")),
              extra=_WS_MESSAGES),
    Operation("PUT", "/api/match", "launch_match", "Start a match in a child server of its own (or find it)", "matches",
              {200: (bodies.MatchStarted, "the same request again while the match lives"),
               201: (bodies.MatchStarted, "started"), **_NATIVE_ERRORS, **_KEY,
               404: (bodies.ErrorAnswer, "the match launcher is off"),
               409: (bodies.ErrorAnswer, "`match_exists` (live with another request) or `match_ending`"),
               503: (bodies.ErrorAnswer, "`draining`, `too_many_matches` or a failed launch"),
               504: (bodies.ErrorAnswer, "`launch_timeout`")}, body=bodies.MatchRequest,
              links={200: _MATCH_LINKS, 201: _MATCH_LINKS}),
    Operation("GET", "/api/match", "list_matches", "Live matches, then recently ended ones", "matches",
              {200: (bodies.MatchList, "the matches"), **_KEY, 404: (bodies.ErrorAnswer, "the match launcher is off")}),
    Operation("GET", "/api/match/{match_id}", "get_match", "One match", "matches",
              {200: (bodies.Match, "the match"), **_KEY,
               404: (bodies.ErrorAnswer, "`match_not_found`, or the launcher is off")}, parameters=(MATCH_ID,)),
    Operation("DELETE", "/api/match/{match_id}", "stop_match", "Stop a match's child (TERM, then KILL)", "matches",
              {200: (bodies.Match, "the match, stopped"), **_KEY,
               404: (bodies.ErrorAnswer, "`match_not_found`, or the launcher is off")}, parameters=(MATCH_ID,)),
    Operation("POST", "/create_game", "compat_create_game", "The original server's create", "original",
              {200: (bodies.CompatToken, "the creator's seat token"), **_COMPAT_BODY, **_COMPAT_KEY,
               503: (bodies.CompatErrorAnswer, "too many games, or draining")}, body=bodies.CompatGame),
    Operation("POST", "/join_game", "compat_join_game", "The original server's join", "original",
              {200: (bodies.CompatToken, "the joiner's seat token"), **_COMPAT_BODY, **_COMPAT_KEY,
               503: (bodies.CompatErrorAnswer, "draining")}, body=bodies.CompatGame),
    Operation("POST", "/remove_game", "compat_remove_game", "The original server's remove (200 either way)", "original",
              {200: ("null", "done"), **_COMPAT_BODY, **_COMPAT_KEY}, body=bodies.CompatRemoveGame),
    Operation("POST", "/remove_player", "compat_remove_player", "The original server's player removal", "original",
              {200: (bodies.CompatPlayerRemoved, "done"), **_COMPAT_BODY, **_COMPAT_KEY,
               404: (bodies.CompatErrorAnswer, "no such player")}, body=bodies.CompatRemovePlayer),
    Operation("GET", "/active_games", "compat_active_games", "The original server's game list (ids)", "original",
              {200: ("names", "the ids of the live games"), **_COMPAT_KEY}),
    Operation("GET", "/", "compat_play_game", "The original server's WebSocket URL (with game_token); without "
              "one, the web client's game page", "original",
              {**_WS, **_PAGE, 426: (bodies.CompatErrorAnswer, "not a WebSocket upgrade request"),
               403: (bodies.CompatErrorAnswer, "unknown game_token, or not this user_id's"),
               404: (bodies.CompatErrorAnswer, "no game_token (and the web client is off)")}, key=False,
              parameters=(("game_token", "query", "the player's seat token"), ("user_id", "query", "its user id")),
              extra=_WS_MESSAGES),
    Operation("GET", "/console", "console", "The web client's operator console", "web client",
              {**_PAGE, 404: (bodies.CompatErrorAnswer, "the web client is off")}, key=False),
    Operation("GET", "/static/{name}", "static_file", "A file of the web client (script, style sheet, image)",
              "web client", {200: ("files", "the file"), 304: _PAGE[304],
                             404: (("text", bodies.CompatErrorAnswer), "no such file, or the web client is off")},
              key=False, parameters=(("name", "path", "the file's name"),)),
]
# With --redis the lobby, original and match routes ask the cluster's directory, and may be carried to
# the node holding the game or match (rpsa.cluster): True where a request may be carried.
CLUSTER_ROUTES = {"create_game": True, "list_games": False, "get_game": False, "remove_game": True,
                   "join_game": True, "remove_player": True, "launch_match": True, "get_match": True,
                   "stop_match": True, "compat_create_game": True, "compat_join_game": True,
                   "compat_remove_game": True, "compat_remove_player": True, "compat_active_games": False,
                   "compat_play_game": False}
OPERATIONS = [replace(op, answers=_clustered(op.answers, CLUSTER_ROUTES[op.operation_id],
                                             bodies.CompatErrorAnswer if op.tag == "original" else bodies.ErrorAnswer))
              if op.operation_id in CLUSTER_ROUTES else op for op in OPERATIONS]
# Every route also takes OPTIONS (rpsa.edge.RequestGate): 204 with Allow, and with --cors-origin the CORS preflight.
OPERATIONS += [
    Operation("OPTIONS", path, f"options_{min(op.operation_id for op in OPERATIONS if op.path == path)}",
              "The methods this route takes; a CORS preflight with --cors-origin", "service",
              {204: (None, "Allow lists the methods; a preflight from an allowed origin also gets the "
                           "Access-Control-Allow-* headers"),
               403: (bodies.ErrorAnswer if path.startswith("/api/") else bodies.CompatErrorAnswer, _CORS_REFUSED)},
              key=False, parameters=tuple(p for p in next(op for op in OPERATIONS if op.path == path).parameters
                                          if p[1] == "path"))
    for path in dict.fromkeys(op.path for op in OPERATIONS)
]


def _ecma(node: Any) -> Any:
    """Patterns as JSON Schema's regular expressions read them: ``$`` for ``\\Z``, no surrogates (UTF-8 JSON has none)."""
    if isinstance(node, dict):
        out = {key: _ecma(value) for key, value in node.items()}
        pattern = out.get("pattern")
        if isinstance(pattern, str):
            out["pattern"] = re.sub(r"\\Z$", "$", pattern.replace("\\ud800-\\udfff", ""))
        return out
    if isinstance(node, list):
        return [_ecma(value) for value in node]
    return node


def _schemas() -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``(refs, components)``: a ``$ref`` for each structure used, and every component schema."""
    structures = sorted({s for op in OPERATIONS for s in [op.body, *_each(a[0] for a in op.answers.values())]
                         if isinstance(s, type)}, key=lambda s: s.__name__)
    found, components = msgspec.json.schema_components(structures, ref_template=REF)
    refs = {s: schema for s, schema in zip(structures, found)}
    roots, message_parts = messages.json_schemas(REF)
    components.update(message_parts)
    components.update(roots)
    return refs, components


def _each(schemas) -> List[Any]:
    """The schemas, a tuple's each on its own."""
    return [one for schema in schemas for one in (schema if isinstance(schema, tuple) else (schema,))]


_FILE_TYPES = ("text/html; charset=utf-8", "text/javascript; charset=utf-8", "text/css; charset=utf-8",
               "image/svg+xml")


def _content(schema: Any, refs: Dict[Any, Any]) -> Optional[Dict[str, Any]]:
    if schema is None:
        return None
    if isinstance(schema, tuple):
        merged: Dict[str, Any] = {}
        for one in schema:
            merged.update(_content(one, refs) or {})
        return merged
    if schema == "html":
        return {_FILE_TYPES[0]: {"schema": {"type": "string"}}}
    if schema == "files":
        return {media: {"schema": {"type": "string"}} for media in _FILE_TYPES}
    if schema == "text":
        return {"text/plain; charset=utf-8": {"schema": {"type": "string"}}}
    if schema == "metrics":
        return {METRICS_TYPE: {"schema": {"type": "string"}}}
    if schema == "document":
        return {JSON: {"schema": {"type": "object"}}}
    if schema == "null":
        return {JSON: {"schema": {"type": "null"}}}
    if schema == "names":
        return {JSON: {"schema": {"type": "array", "items": {"type": "string"}}}}
    return {JSON: {"schema": refs[schema]}}


def _operation(op: Operation, refs: Dict[Any, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    if op.parameters:
        out["parameters"] = [
            {"name": name, "in": where, "required": where == "path", "description": text,
             "schema": {"type": "string"}}
            for name, where, text in op.parameters
        ]
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {JSON: {"schema": refs[op.body]}}}
    responses = {}
    for status, (schema, text) in sorted(op.answers.items()):
        answer: Dict[str, Any] = {"description": text}
        content = _content(schema, refs)
        if content is not None:
            answer["content"] = content
        if status == 429:
            answer["headers"] = RETRY_AFTER
        if status in op.links:
            answer["links"] = {name: {"operationId": target, "parameters": parameters}
                               for name, (target, parameters) in op.links[status].items()}
        responses[str(status)] = answer
    out["responses"] = responses
    out["security"] = [{"bearer": []}, {}] if op.key else [{}]
    out.update(op.extra)
    return out


def document(version: str = "") -> Dict[str, Any]:
    """The OpenAPI 3.1 document."""
    if not version:
        from rpsa import __version__ as version
    refs, components = _schemas()
    paths: Dict[str, Dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return _ecma({
        "openapi": "3.1.0",
        "info": {
            "title": "rpsa",
            "version": version,
            "description": "The HTTP API of rpsa, the Rock Paper Scissors Apocalypse game server: the lobby, "
                           "the original server's routes, the match launcher, health and metrics. "
                           "The WebSocket messages are the ClientMessage and ServerMessage schemas. "
                           "Prose: docs/protocol.md.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "the API key (--api-key-file), when one is set"}},
        },
    })


def document_bytes() -> bytes:
    """The document as ``docs/openapi.json`` holds it (sorted keys, indented, a final newline)."""
    return (json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


if __name__ == "__main__":
    sys.stdout.buffer.write(document_bytes())
