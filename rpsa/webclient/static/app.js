// The rpsa web page: the lobby and one match (as a player or a spectator), on rpsa-client.js.
//
// The seat (game id, token, WebSocket URL) lives in this tab's sessionStorage only: the
// page's own URL never carries the token (it shows #game=ID or #watch=ID, no more).

import { ApiError, RoundState, RpsaClient, WEAPONS } from "./rpsa-client.js";
import { $, $$, element, notice } from "./ui.js";

const SEAT_KEY = "rpsa.seat";
const USER_KEY = "rpsa.userId";
const NAME_KEY = "rpsa.username";
const LOBBY_POLL_MS = 2000;
const STATE_NAMES = {
  waiting_for_players: "waiting", character_selection: "selecting", in_progress: "playing", game_over: "over",
};
const STATE_LABELS = { waiting: "waiting", selecting: "choosing fighters", playing: "playing", over: "over" };

const client = new RpsaClient();

let fighters = new Map(); // id -> fighter, from GET /api/characters
let lobbyOpen = true; // from GET /api/access: false when the server keeps its lobby behind its key
let lobbyTimer = null;
let game = null; // the match on screen

// -- small helpers ----------------------------------------------------------------

function explain(err) {
  if (err instanceof ApiError) {
    if (err.status === 429) return `Slow down: too many requests from your address. Try again in ${err.retryAfter ?? "a few"} s.`;
    if (err.status === 401) return "The lobby is closed on this server.";
    return err.message;
  }
  return String(err?.message ?? err);
}

function randomId(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return prefix + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** This tab's user id: one per tab, so that two tabs can play each other. */
function userId() {
  let id = sessionStorage.getItem(USER_KEY);
  if (!id) {
    id = randomId("web-");
    sessionStorage.setItem(USER_KEY, id);
  }
  return id;
}

function username() {
  const input = $("#username");
  let name = input.value.trim();
  if (!name) {
    name = `Player ${Math.floor(1000 + Math.random() * 9000)}`;
    input.value = name;
  }
  localStorage.setItem(NAME_KEY, name);
  return name.slice(0, 64);
}

function fighterName(id) {
  return fighters.get(id)?.name ?? id;
}

// -- the lobby --------------------------------------------------------------------

function showLobby() {
  if (game) {
    game.conn.close();
    game = null;
  }
  sessionStorage.removeItem(SEAT_KEY);
  if (location.hash) history.replaceState(null, "", location.pathname);
  $("#match").hidden = true;
  $("#lobby").hidden = false;
  document.title = "Rock Paper Scissors Apocalypse";
  refreshLobby();
}

async function refreshLobby() {
  clearTimeout(lobbyTimer);
  if ($("#lobby").hidden) return;
  setLobbyOpen(lobbyOpen);
  if (!lobbyOpen) return; // nothing to poll: the page says the lobby is closed
  try {
    renderGames(await client.listGames());
    setLobbyOpen(true);
    $("#games-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) setLobbyOpen(false);
    else $("#games-updated").textContent = `not updated: ${explain(err)}`;
  }
  lobbyTimer = setTimeout(refreshLobby, LOBBY_POLL_MS);
}

function setLobbyOpen(open) {
  $("#lobby-closed").hidden = open;
  $("#create-form").hidden = !open;
  $("#games-panel").hidden = !open;
}

function renderGames(games) {
  const body = $("#games");
  const seen = new Set();
  for (const summary of games) {
    seen.add(summary.game_id);
    let row = $$("tr", body).find((r) => r.dataset.gameId === summary.game_id);
    if (!row) {
      row = element("tr", { "data-test": "game-row", dataset: { gameId: summary.game_id } },
        element("td", { class: "players" }), element("td", { class: "state" }),
        element("td", { class: "rounds" }), element("td", { class: "spectators" }),
        element("td", { class: "row-actions" },
          element("button", { type: "button", "data-test": "join", class: "primary", text: "Join" }),
          element("button", { type: "button", "data-test": "watch", text: "Watch" })));
      $("[data-test=join]", row).addEventListener("click", () => joinGame(row.dataset.gameId));
      $("[data-test=watch]", row).addEventListener("click", () => watchGame(row.dataset.gameId));
      body.append(row);
    }
    const names = summary.players.map((p) => p.username);
    $(".players", row).textContent = names.length === 2 ? `${names[0]} vs ${names[1]}` : `${names[0] ?? "?"} (needs an opponent)`;
    $(".state", row).textContent = STATE_LABELS[STATE_NAMES[summary.state]] ?? summary.state;
    $(".rounds", row).textContent = summary.rounds;
    $(".spectators", row).textContent = summary.spectators;
    const mine = summary.players.some((p) => p.user_id === userId());
    $("[data-test=join]", row).hidden = !summary.joinable || mine;
  }
  for (const row of $$("tr", body)) {
    if (!seen.has(row.dataset.gameId)) row.remove();
  }
  $("#no-games").hidden = games.length > 0;
}

async function createGame(opponent) {
  const button = opponent ? $("#play-bot") : $("[data-test=create-game]");
  button.disabled = true;
  try {
    const request = { userId: userId(), username: username(), rounds: Number($("#rounds").value) };
    if (opponent) {
      request.opponent = "bot";
      request.level = $("#level").value;
    }
    const seat = await client.createGame(request);
    takeSeat(seat);
  } catch (err) {
    notice(explain(err), "error");
  } finally {
    button.disabled = false;
  }
}

async function joinGame(gameId) {
  try {
    takeSeat(await client.joinGame(gameId, { userId: userId(), username: username() }));
  } catch (err) {
    notice(explain(err), "error");
    refreshLobby();
  }
}

function takeSeat(answer) {
  const seat = { gameId: answer.game_id, token: answer.player_token, wsUrl: answer.ws_url, userId: userId() };
  sessionStorage.setItem(SEAT_KEY, JSON.stringify(seat));
  enterMatch({ gameId: seat.gameId, role: "player", url: seat.wsUrl, resume: false });
}

function watchGame(gameId) {
  enterMatch({ gameId, role: "spectator", url: client.spectateUrl(gameId), resume: false });
}

// -- a match ------------------------------------------------------------------------

function blankPlayer() {
  return {
    userId: null, username: null, fighter: null, health: null, roundWins: 0, connected: false, ready: false, bot: false,
  };
}

function enterMatch({ gameId, role, url, resume }) {
  clearTimeout(lobbyTimer);
  $("#lobby").hidden = true;
  $("#match").hidden = false;
  history.replaceState(null, "", `${location.pathname}#${role === "player" ? "game" : "watch"}=${encodeURIComponent(gameId)}`);
  document.title = `Game ${gameId} · RPS Apocalypse`;
  game = {
    gameId, role, me: role === "player" ? userId() : null,
    players: [blankPlayer(), blankPlayer()],
    state: "waiting", rounds: null, round: 0, windowOpen: false, myWeapon: null, complete: false,
    conn: client.connect(url, { resume }),
  };
  $("#match-id").textContent = gameId;
  $("#role").textContent = role === "player" ? "you play" : "you watch";
  $("#log").replaceChildren();
  $("#result").hidden = true;
  $("#winner").textContent = "";
  $("#countdown").textContent = "";
  announce(resume ? "Reconnecting…" : "Connecting…");
  setConnection(game.conn.status);
  listen(game.conn);
  render();
}

function listen(conn) {
  const current = () => game && game.conn === conn;
  const on = (type, handler) => conn.on(type, (detail) => { if (current()) { handler(detail); render(); } });
  on("status", ({ status, code, reason }) => {
    setConnection(status);
    if (status === "closed" && !game.complete) {
      sessionStorage.removeItem(SEAT_KEY);
      announce("The game is over for this page");
      notice(closeText(code, reason), "error");
    } else if (status === "reconnecting") {
      announce("Reconnecting…");
    }
  });
  on("welcome", (message) => welcome(message));
  on("player_joined", (data) => {
    seatPlayer(0, data.p1Id, data.p1Name);
    seatPlayer(1, data.p2Id, data.p2Name);
    for (const p of game.players) if (p.userId) p.connected = true;
    if (game.state === "waiting" && data.p2Id) game.state = "selecting";
  });
  on("select_fighter", (data) => {
    const player = game.players.find((p) => p.userId === data.playerId);
    if (!player) return;
    player.fighter = data.selectedCharacterId;
    player.health = fighters.get(player.fighter)?.health ?? player.health;
  });
  on("sync", (data) => {
    game.players[0].health = data.p1Health;
    game.players[1].health = data.p2Health;
  });
  on("player_left", (message) => {
    const player = game.players.find((p) => p.userId === message.userId);
    if (player) player.connected = false;
    notice(`${player?.username ?? message.userId} lost the connection; the seat is held for ${message.reconnectGrace} s.`);
  });
  on("bot_takeover", (message) => {
    const player = game.players.find((p) => p.userId === message.userId);
    if (player) player.bot = true;
    notice(`${player?.username ?? message.userId} did not come back: a bot plays for them until they do.`);
  });
  on("error", (message) => serverError(message));
  on("game_started", () => {
    game.state = "playing";
    announce("Fight!");
  });
  on("round_started", () => {
    game.round += 1;
    for (const p of game.players) p.health = fighters.get(p.fighter)?.health ?? p.health;
    announce(`Round ${game.round}`);
  });
  on("round_countdown", ({ value }) => {
    announce(`Round ${game.round} starts in`);
    countdown(value);
  });
  on("state_change", ({ newState }) => {
    game.windowOpen = newState === RoundState.WAITING_FOR_WEAPON_SELECTION;
    if (game.windowOpen) {
      announce(game.role === "player" ? "Choose your weapon!" : "The fighters choose…");
      countdown("");
      game.myWeapon = null;
    }
  });
  on("weapon_countdown", ({ value }) => countdown(value));
  on("weapons_selected", ({ attackSummary }) => exchange(attackSummary));
  on("round_finished", ({ roundWinnerId }) => {
    const winner = game.players.find((p) => p.userId === roundWinnerId);
    if (winner) winner.roundWins += 1;
    announce(`${winner?.username ?? roundWinnerId} wins round ${game.round}`);
    countdown("");
  });
  on("game_complete", ({ winnerId, loserId }) => {
    game.complete = true;
    game.state = "over";
    game.windowOpen = false;
    const winner = game.players.find((p) => p.userId === winnerId);
    const loser = game.players.find((p) => p.userId === loserId);
    if (loser) loser.health = 0;
    $("#winner").textContent = winner?.username ?? winnerId;
    announce(`${winner?.username ?? winnerId} wins the match!`);
    countdown("");
    sessionStorage.removeItem(SEAT_KEY);
  });
}

function seatPlayer(index, id, name) {
  const player = game.players[index];
  if (player.userId !== id) {
    Object.assign(player, blankPlayer());
    player.userId = id;
  }
  player.username = name;
}

function welcome(message) {
  const snapshot = message.game;
  game.state = STATE_NAMES[snapshot.state] ?? "waiting";
  game.rounds = snapshot.rounds;
  game.round = snapshot.round;
  game.windowOpen = snapshot.round_state === RoundState.WAITING_FOR_WEAPON_SELECTION;
  game.players = [blankPlayer(), blankPlayer()];
  for (const p of snapshot.players) {
    Object.assign(game.players[p.seat - 1], {
      userId: p.user_id, username: p.username, fighter: p.fighter, connected: p.connected,
      ready: p.ready, roundWins: p.round_wins, bot: Boolean(p.bot),
      health: p.fighter ? p.health : null,
    });
  }
  if (game.state === "waiting") announce("Waiting for an opponent");
  else if (game.state === "selecting") announce("Choose your fighters");
  else if (game.state === "playing") announce(`Round ${game.round}`);
}

function serverError(message) {
  if (message.code === 4003) {
    // Player 2 left for good: the game is open again, picks and readiness are cleared.
    game.players[1] = blankPlayer();
    game.players[0].fighter = game.role === "player" && game.me === game.players[0].userId ? null : game.players[0].fighter;
    game.players[0].ready = false;
    game.players[0].health = null;
    game.state = "waiting";
    game.round = 0;
    $("#log").replaceChildren();
    announce("Your opponent left. Waiting for a new one");
    notice("Your opponent left the game.");
  } else if (message.code === 4002) {
    notice("The host left: the game is over.", "error");
  } else {
    notice(message.message, "error");
  }
}

function exchange(summary) {
  const picks = [summary.p1Selection, summary.p2Selection];
  const entry = element("li");
  picks.forEach((pick, i) => {
    const player = game.players[i];
    const card = $(`#player-${i + 1} .throw`);
    const label = pick.weaponId === "botch" ? "botch!" : pick.weaponId;
    card.replaceChildren(...(WEAPONS.includes(pick.weaponId) ? [weaponIcon(pick.weaponId), " "] : []),
      `${label}${pick.damageDealt ? ` · ${formatNumber(pick.damageDealt)} damage` : ""}`);
    card.dataset.weapon = pick.weaponId;
    card.classList.remove("flash");
    void card.offsetWidth; // restart the animation
    card.classList.add("flash");
    if (i === 1) entry.append(" vs ");
    entry.append(element("strong", { text: player.username ?? `Player ${i + 1}` }),
      ` ${label}${pick.damageDealt ? ` (${formatNumber(pick.damageDealt)})` : ""}`);
  });
  $("#log").prepend(entry);
  game.myWeapon = null;
  game.windowOpen = false;
  const [one, two] = picks.map((p) => p.damageDealt);
  announce(one && two ? "Both botched!" : one ? `${game.players[0].username} hits` : two ? `${game.players[1].username} hits` : "Draw");
  countdown("");
}

function weaponIcon(weapon) {
  return element("img", { class: "icon", src: `static/${weapon}.svg`, alt: "", title: weapon });
}

function formatNumber(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function closeText(code, reason) {
  const known = {
    1000: "The game is over.", 4001: "This seat was taken over by another tab or device.",
    4002: "The host left: the game is over.", 4100: "The game was removed.", 4101: "You were removed from the game.",
    4104: "The server is shutting down.", 4105: "The match was abandoned.",
  };
  return known[code] ?? `The connection to the game was lost${reason ? ` (${reason})` : ""}.`;
}

function announce(text) {
  $("#announce").textContent = text;
}

function countdown(value) {
  $("#countdown").textContent = value === "" ? "" : String(value);
}

function setConnection(status) {
  const badge = $("#connection");
  badge.dataset.status = status === "connecting" ? "reconnecting" : status;
  badge.textContent = status === "connected" ? "connected" : status === "closed" ? "disconnected" : `${status}…`;
}

// -- rendering ----------------------------------------------------------------------------

function render() {
  if (!game) return;
  const badge = $("#game-state");
  badge.dataset.state = game.state;
  badge.textContent = STATE_LABELS[game.state];
  game.players.forEach((player, i) => renderPlayer(player, $(`#player-${i + 1}`), i));
  const me = game.players.find((p) => p.userId && p.userId === game.me);
  const playing = game.role === "player" && me && !game.complete && game.conn.status !== "closed";
  $("#selection").hidden = !(playing && (game.state === "waiting" || game.state === "selecting") && !me.ready);
  if (!$("#selection").hidden) renderSelection(me);
  $("#weapons").hidden = !(playing && game.state === "playing");
  for (const button of $$("[data-test=weapon]")) {
    const index = Number(button.dataset.weapon);
    button.disabled = !game.windowOpen || game.conn.status !== "connected";
    button.setAttribute("aria-pressed", String(game.myWeapon === index));
  }
  $("#result").hidden = !game.complete;
}

function renderPlayer(player, card, index) {
  $(".username", card).textContent = (player.username ?? (index === 1 ? "waiting for an opponent…" : "—"))
    + (player.bot && !/^Computer/.test(player.username ?? "") ? " (bot)" : "");
  $(".presence", card).dataset.connected = String(player.connected);
  $(".presence", card).title = player.connected ? "connected" : "not connected";
  const fighter = fighters.get(player.fighter);
  $(".fighter-name", card).textContent = player.fighter
    ? `${fighter?.name ?? player.fighter}${fighter ? ` · ${fighter.country}` : ""}`
    : "no fighter yet";
  card.dataset.fighter = player.fighter ?? "";
  const health = $(".health", card);
  const full = fighter?.health ?? 100;
  health.dataset.value = player.health === null || player.health === undefined ? "" : String(player.health);
  const share = player.health === null || player.health === undefined ? 1 : Math.max(0, Math.min(1, player.health / full));
  $(".fill", health).style.width = `${(share * 100).toFixed(1)}%`;
  $(".fill", health).dataset.level = player.health === null || player.health === undefined
    ? "unknown" : share > 0.5 ? "high" : share > 0.25 ? "mid" : "low";
  $(".number", health).textContent = player.health === null || player.health === undefined ? "—" : `${formatNumber(player.health)} / ${full}`;
  const needed = game.rounds ? Math.floor(game.rounds / 2) + 1 : 0;
  $(".wins", card).textContent = needed ? "★".repeat(player.roundWins) + "☆".repeat(Math.max(0, needed - player.roundWins)) : "";
}

function renderSelection(me) {
  const grid = $("#fighters");
  if (!grid.childElementCount) buildFighterCards(grid);
  for (const card of $$("[data-test=fighter]", grid)) {
    card.setAttribute("aria-checked", String(card.dataset.fighter === me.fighter));
  }
  $("#ready").disabled = !me.fighter || me.ready || game.conn.status !== "connected";
  const other = game.players.find((p) => p !== me);
  $("#ready-note").textContent = !other.userId ? "Waiting for an opponent to join." : me.fighter ? "" : "Pick a fighter first.";
}

function buildFighterCards(grid) {
  const list = fighters.size ? [...fighters.values()] : ["aru", "man", "hog", "rad", "mai"].map((id) => ({ id, name: id }));
  for (const fighter of list) {
    const figures = fighter.weapons
      ? element("table", { class: "figures" },
        element("tr", {}, element("th", { text: "" }), ...WEAPONS.map((w) => element("th", { title: w }, weaponIcon(w)))),
        element("tr", {}, element("th", { text: "hits", title: "damage when this weapon wins: base × (1 + modifier)" }),
          ...WEAPONS.map((w) => element("td", { text: formatNumber(fighter.weapons[w].base * (1 + fighter.weapons[w].modifier)) }))),
        element("tr", {}, element("th", { text: "guard", title: "damage mitigated when this weapon loses" }),
          ...WEAPONS.map((w) => element("td", { text: `${Math.round(fighter.weapons[w].mitigation * 100)}%` }))))
      : "";
    const card = element("button", {
      type: "button", role: "radio", class: "fighter", "data-test": "fighter", dataset: { fighter: fighter.id },
      "aria-checked": "false",
    },
    element("span", { class: "fighter-title", text: fighter.name }),
    element("span", { class: "fighter-meta", text: fighter.country ? `${fighter.country} · ${fighter.style} · ${fighter.health} HP` : "" }),
    figures);
    card.addEventListener("click", () => {
      if (game?.conn.selectFighter(fighter.id) === false) notice("Not connected: wait a moment.", "error");
    });
    grid.append(card);
  }
}

// -- wiring -------------------------------------------------------------------------------

function chooseWeapon(index) {
  if (!game || !game.windowOpen || $("#weapons").hidden) return;
  if (game.conn.selectWeapon(index)) {
    game.myWeapon = index;
    render();
  }
}

function wire() {
  $("#username").value = localStorage.getItem(NAME_KEY) ?? "";
  $("#create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    createGame(null);
  });
  $("#play-bot").addEventListener("click", () => createGame("bot"));
  $("#leave").addEventListener("click", showLobby);
  $("#again").addEventListener("click", showLobby);
  $("#home").addEventListener("click", (event) => {
    event.preventDefault();
    showLobby();
  });
  $("#ready").addEventListener("click", () => {
    const me = game?.players.find((p) => p.userId === game.me);
    if (me && game.conn.ready()) {
      me.ready = true;
      announce("Ready. Waiting for the opponent…");
      render();
    }
  });
  for (const button of $$("[data-test=weapon]")) {
    button.addEventListener("click", () => chooseWeapon(Number(button.dataset.weapon)));
  }
  document.addEventListener("keydown", (event) => {
    if (event.target.closest?.("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    const index = { 1: 0, 2: 1, 3: 2, r: 0, p: 1, s: 2 }[event.key.toLowerCase()];
    if (index !== undefined) chooseWeapon(index);
  });
}

async function start() {
  wire();
  try {
    lobbyOpen = await client.lobbyOpen();
    if (lobbyOpen) fighters = new Map((await client.characters()).map((f) => [f.id, f]));
  } catch (err) {
    notice(`The server cannot be reached: ${explain(err)}`, "error");
  }
  const stored = JSON.parse(sessionStorage.getItem(SEAT_KEY) ?? "null");
  const watch = /^#watch=(.+)$/.exec(location.hash);
  if (stored && stored.userId === userId()) {
    enterMatch({ gameId: stored.gameId, role: "player", url: stored.wsUrl, resume: true });
  } else if (watch) {
    watchGame(decodeURIComponent(watch[1]));
  } else {
    showLobby();
  }
}

start();
