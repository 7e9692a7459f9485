// rpsa-client.js: a small client library for an rpsa game server (an ES module, no dependencies).
//
// - RpsaClient: the HTTP API (lobby, fighters, and the operator routes), with an optional API key.
// - GameConnection: one WebSocket to a game, as a player (with the seat's token) or a
//   spectator, that reconnects by itself after a dropped connection and dispatches typed
//   events ("welcome", "weapons_selected", "game_complete", "status", ...).
//
// The wire protocol is documented in docs/protocol.md; this library is documented, with an
// example, in docs/webclient.md.

export const WEAPONS = Object.freeze(["rock", "paper", "scissors"]);

/** Round states, as numbered on the wire. */
export const RoundState = Object.freeze({
  NEW_ROUND: 0, COUNTDOWN: 1, WAITING_FOR_WEAPON_SELECTION: 2, PROCESSING_RESULT: 3, FINISHED: 4,
});

const ROUND_EVENTS = ["round_countdown", "weapon_countdown", "state_change", "weapons_selected",
  "round_finished", "round_started"];
const GAME_EVENTS = ["game_started", "game_complete"];

/** Close codes after which reconnecting cannot help (see docs/protocol.md, section 4). */
export const FINAL_CLOSE_CODES = Object.freeze(new Set([
  1000, // the game is complete
  4001, // a newer connection took this seat
  4002, // the host left for good: the game is gone
  4100, // the game was removed
  4101, // this player was removed
  4102, // message too big
  4103, // too many messages
  4104, // the server is shutting down
  4105, // the match was abandoned
]));

/** An HTTP API error: `status`, the API's stable `code`, a human `message`, `retryAfter` seconds (429). */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** The HTTP API of one rpsa server. */
export class RpsaClient {
  /**
   * @param {object} [options]
   * @param {string} [options.baseUrl] the server's base URL (default: the directory of the current page)
   * @param {string|null} [options.apiKey] sent as `Authorization: Bearer <key>` when given
   * @param {Function} [options.fetch] a fetch implementation (default: the global one)
   */
  constructor({ baseUrl = undefined, apiKey = null, fetch: fetchImpl = undefined } = {}) {
    const base = baseUrl ?? new URL(".", globalThis.location?.href ?? "http://localhost/").href;
    this.baseUrl = base.endsWith("/") ? base : `${base}/`;
    this.apiKey = apiKey;
    this._fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
  }

  /** An absolute http(s) URL for a path relative to the server's base ("api/games"). */
  url(path) {
    return new URL(path.replace(/^\//, ""), this.baseUrl).href;
  }

  /** The spectator WebSocket URL of a lobby game. */
  spectateUrl(gameId) {
    const url = new URL(this.url(`api/games/${encodeURIComponent(gameId)}/ws`));
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }

  /** One request; resolves with the decoded JSON body (or text), rejects with ApiError. */
  async request(method, path, body = undefined, { text = false } = {}) {
    const headers = { Accept: text ? "text/plain" : "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    let response;
    try {
      response = await this._fetch(this.url(path), {
        method, headers, cache: "no-store", credentials: "omit",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, "network_error", `the server cannot be reached (${err.message})`);
    }
    const raw = await response.text();
    if (!response.ok) {
      let code = "http_error";
      let message = `${response.status} ${response.statusText}`;
      try {
        const parsed = JSON.parse(raw);
        code = parsed.error?.code ?? code;
        message = parsed.error?.message ?? parsed.message ?? message;
      } catch { /* not JSON: keep the status line */ }
      const retry = Number(response.headers.get("Retry-After"));
      throw new ApiError(response.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : null);
    }
    if (text) return raw;
    return raw ? JSON.parse(raw) : null;
  }

  // -- the lobby ---------------------------------------------------------------------

  /** What this server asks of its clients: {key_required, public_lobby, bot_levels} (needs no key). */
  access() {
    return this.request("GET", "api/access");
  }

  /** Whether this client may use the lobby (list, create, join): no key needed, a public lobby, or a key given. */
  async lobbyOpen() {
    const access = await this.access();
    return !access.key_required || access.public_lobby || Boolean(this.apiKey);
  }

  /** The fighters: [{id, name, country, health, style, boss, weapons: {rock: {base, modifier, mitigation}, ...}}]. */
  async characters() {
    return (await this.request("GET", "api/characters")).characters;
  }

  /** Live games, oldest first; `joinable` keeps only those with a free seat and a connected host. */
  async listGames({ joinable = false } = {}) {
    return (await this.request("GET", `api/games${joinable ? "?joinable=true" : ""}`)).games;
  }

  /** One game's summary. */
  getGame(gameId) {
    return this.request("GET", `api/games/${encodeURIComponent(gameId)}`);
  }

  /**
   * Create a game as its host; resolves with {game_id, player_token, ws_url, spectate_url}.
   * `opponent: "bot"` (with an optional `level`) seats the computer as player 2.
   */
  createGame({ userId, username, rounds = undefined, gameId = undefined, opponent = undefined, level = undefined }) {
    const body = { user_id: userId, username };
    if (rounds !== undefined) body.rounds = rounds;
    if (gameId !== undefined) body.game_id = gameId;
    if (opponent !== undefined) body.opponent = opponent;
    if (level !== undefined) body.level = level;
    return this.request("POST", "api/games", body);
  }

  /** Take the free seat of a game; resolves like createGame. */
  joinGame(gameId, { userId, username }) {
    return this.request("POST", `api/games/${encodeURIComponent(gameId)}/players`, { user_id: userId, username });
  }

  // -- operator routes (they need the API key when the server has one) ---------------

  deleteGame(gameId) {
    return this.request("DELETE", `api/games/${encodeURIComponent(gameId)}`);
  }

  removePlayer(gameId, userId) {
    return this.request("DELETE", `api/games/${encodeURIComponent(gameId)}/players/${encodeURIComponent(userId)}`);
  }

  async listMatches() {
    return (await this.request("GET", "api/match")).matches;
  }

  stopMatch(matchId) {
    return this.request("DELETE", `api/match/${encodeURIComponent(matchId)}`);
  }

  /** The server's Prometheus figures, parsed by parseMetrics. */
  async metrics() {
    return parseMetrics(await this.request("GET", "metrics", undefined, { text: true }));
  }

  /** Open a game's WebSocket (a `ws_url` or `spectate_url`); see GameConnection. */
  connect(url, options = {}) {
    return new GameConnection(url, options);
  }
}

/**
 * Parse Prometheus text: a Map from metric name to [{labels: {...}, value}].
 * Only what this library needs (no timestamps, no escapes beyond \" and \\).
 */
export function parseMetrics(text) {
  const metrics = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]] = pair[2].replace(/\\(.)/g, "$1");
    }
    const value = Number(match[4] === "+Inf" ? Infinity : match[4]);
    if (!metrics.has(match[1])) metrics.set(match[1], []);
    metrics.get(match[1]).push({ labels, value });
  }
  return metrics;
}

/** The sum of a metric's samples whose labels include `where`. */
export function metricSum(metrics, name, where = {}) {
  let total = 0;
  for (const sample of metrics.get(name) ?? []) {
    if (Object.entries(where).every(([k, v]) => sample.labels[k] === v)) total += sample.value;
  }
  return total;
}

/**
 * One WebSocket to a game, reconnecting by itself.
 *
 * Events (each a CustomEvent whose `detail` is the message's data):
 * - "status": {status, code, reason}; status is "connecting", "connected" (the server sent its
 *   welcome), "reconnecting" (the connection dropped; trying again) or "closed" (for good).
 * - "welcome", "player_left", "bot_takeover", "error" (the server's error messages: {code, message}):
 *   the message as sent; "player_joined", "select_fighter", "sync": the message's `gameData`.
 * - engine events, with the event's data: "game_started", "game_complete", "round_started",
 *   "round_countdown", "weapon_countdown", "state_change", "weapons_selected", "round_finished".
 * - "message": every message, as sent (for anything not covered above).
 *
 * A drop (any close but the final codes above) is retried with a growing delay, for at most
 * `reconnectFor` milliseconds (keep it within the server's --reconnect-grace, 10 s by default,
 * when holding a seat); `resume: true` starts in "reconnecting" (a page reload taking its seat back).
 */
export class GameConnection extends EventTarget {
  constructor(url, { reconnect = true, reconnectFor = 10000, resume = false, WebSocketImpl = undefined } = {}) {
    super();
    this.url = url;
    this.reconnect = reconnect;
    this.reconnectFor = reconnectFor;
    this.status = resume ? "reconnecting" : "connecting";
    this.closeCode = null;
    this._WebSocket = WebSocketImpl ?? globalThis.WebSocket;
    this._socket = null;
    this._timer = null;
    this._dropAt = resume ? Date.now() : null;
    this._attempt = 0;
    this._stopped = false;
    queueMicrotask(() => this._open());
  }

  /** Listen for an event's detail; returns this connection (chainable). */
  on(type, handler) {
    this.addEventListener(type, (event) => handler(event.detail));
    return this;
  }

  /** Send one client message (ignored unless connected). Returns whether it was sent. */
  send(message) {
    if (!this._socket || this._socket.readyState !== 1) return false;
    this._socket.send(JSON.stringify(message));
    return true;
  }

  selectFighter(characterId) { return this.send({ type: "select_fighter", characterId }); }

  ready() { return this.send({ type: "start_battle" }); }

  /** 0 rock, 1 paper, 2 scissors. */
  selectWeapon(index) { return this.send({ type: "select_weapon", index }); }

  /** Close for good (no reconnection). */
  close() {
    this._stopped = true;
    clearTimeout(this._timer);
    if (this._socket && this._socket.readyState <= 1) this._socket.close(1000, "bye");
    this._setStatus("closed", 1000, "closed by the client");
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setStatus(status, code = null, reason = "") {
    if (this.status === status || this.status === "closed") return;
    this.status = status;
    if (status === "closed") this.closeCode = code;
    this._emit("status", { status, code, reason });
  }

  _open() {
    if (this._stopped) return;
    let socket;
    try {
      socket = new this._WebSocket(this.url);
    } catch (err) {
      this._setStatus("closed", null, err.message);
      return;
    }
    this._socket = socket;
    socket.onmessage = (event) => this._received(event.data);
    socket.onclose = (event) => this._dropped(socket, event.code, event.reason);
  }

  _received(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    this._emit("message", message);
    const kind = message.type;
    if (kind === "welcome") {
      this._dropAt = null;
      this._attempt = 0;
      this._setStatus("connected");
      this._emit("welcome", message);
    } else if (kind === "RPSRoundEvent" || kind === "RPSGameEvent") {
      const names = kind === "RPSRoundEvent" ? ROUND_EVENTS : GAME_EVENTS;
      const name = names[message.eventData?.type];
      if (name) this._emit(name, message.eventData.data ?? {});
    } else if (["player_joined", "select_fighter", "sync", "player_left", "bot_takeover", "error"].includes(kind)) {
      this._emit(kind, kind === "select_fighter" || kind === "player_joined" || kind === "sync"
        ? message.gameData : message);
    }
  }

  _dropped(socket, code, reason) {
    if (socket !== this._socket || this._stopped) return;
    this._socket = null;
    if (FINAL_CLOSE_CODES.has(code) || !this.reconnect) {
      this._setStatus("closed", code, reason);
      return;
    }
    const now = Date.now();
    if (this._dropAt === null) this._dropAt = now;
    if (now - this._dropAt >= this.reconnectFor) {
      this._setStatus("closed", code, reason || "could not reconnect in time");
      return;
    }
    this._setStatus("reconnecting", code, reason);
    const delay = Math.min(250 * 2 ** this._attempt, 2000, Math.max(0, this._dropAt + this.reconnectFor - now));
    this._attempt += 1;
    this._timer = setTimeout(() => this._open(), delay);
  }
}
