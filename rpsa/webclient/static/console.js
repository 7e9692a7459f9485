// The operator console: games, matches and the server's figures, live, over the HTTP API only.
//
// The API key is typed once and kept in this tab's sessionStorage; it is sent with every call.

import { ApiError, RpsaClient, metricSum } from "./rpsa-client.js";
import { $, $$, element, notice } from "./ui.js";

const KEY = "rpsa.apiKey";
const POLL_MS = 2000;

const client = new RpsaClient({ apiKey: sessionStorage.getItem(KEY) });
let timer = null;
let previous = null; // the last metrics sample, for rates: {at, received, lagSum, lagCount}

function age(seconds) {
  if (seconds < 60) return `${Math.max(0, Math.floor(seconds))} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

/** Keep one row per item, by key, updating rows in place (so that a row being clicked stays the same node). */
function syncRows(body, items, key, build, update) {
  const rows = new Map($$(":scope > tr", body).map((row) => [row.dataset.key, row]));
  for (const item of items) {
    const id = key(item);
    let row = rows.get(id);
    if (!row) {
      row = build(item);
      row.dataset.key = id;
    }
    rows.delete(id);
    body.append(row); // keeps the server's order
    update(row, item);
  }
  for (const row of rows.values()) row.remove();
}

async function act(button, action, done) {
  button.disabled = true;
  try {
    await action();
    notice(done);
  } catch (err) {
    notice(err instanceof ApiError ? err.message : String(err), "error");
  } finally {
    button.disabled = false;
    refresh();
  }
}

// -- games ---------------------------------------------------------------------------

function buildGameRow(game) {
  const row = element("tr", { "data-test": "console-game", dataset: { gameId: game.game_id } },
    element("td", {}, element("code", { text: game.game_id })), element("td", { class: "state" }),
    element("td", { class: "players" }), element("td", { class: "spectators" }), element("td", { class: "age" }),
    element("td", { class: "row-actions" },
      element("button", { type: "button", class: "danger", "data-test": "remove-game", text: "Remove game" })));
  const remove = $("[data-test=remove-game]", row);
  remove.addEventListener("click", () => act(remove, () => client.deleteGame(game.game_id), `Game ${game.game_id} removed.`));
  return row;
}

function updateGameRow(row, game) {
  $(".state", row).textContent = game.state.replaceAll("_", " ");
  $(".spectators", row).textContent = game.spectators;
  $(".age", row).textContent = age(Date.now() / 1000 - game.created_at);
  const players = $(".players", row);
  const signature = JSON.stringify(game.players);
  if (players.dataset.signature === signature) return;
  players.dataset.signature = signature;
  players.replaceChildren(...game.players.map((player, index) => {
    const item = element("span", { class: "seat" },
      element("span", { class: "presence", dataset: { connected: String(player.connected) },
        title: player.connected ? "connected" : "not connected" }),
      ` ${player.username} `, element("small", { class: "muted", text: player.user_id }));
    if (index === 1) {
      const button = element("button", { type: "button", class: "danger small", "data-test": "remove-player",
        text: "Remove", title: `remove ${player.username} from the game` });
      button.addEventListener("click", () => act(button, () => client.removePlayer(game.game_id, player.user_id),
        `${player.username} removed from ${game.game_id}.`));
      item.append(" ", button);
    }
    return item;
  }));
}

// -- matches -----------------------------------------------------------------------------

function buildMatchRow(match) {
  const row = element("tr", { "data-test": "console-match", dataset: { matchId: match.match_id } },
    element("td", {}, element("code", { text: match.match_id })), element("td", { class: "state" }),
    element("td", { class: "port" }), element("td", { class: "players" }), element("td", { class: "result" }),
    element("td", { class: "row-actions" },
      element("button", { type: "button", class: "danger", "data-test": "stop-match", text: "Stop" })));
  const stop = $("[data-test=stop-match]", row);
  stop.addEventListener("click", () => act(stop, () => client.stopMatch(match.match_id), `Match ${match.match_id} stopped.`));
  return row;
}

function updateMatchRow(row, match) {
  $(".state", row).textContent = match.state;
  $(".port", row).textContent = match.port ?? "—";
  $(".players", row).textContent = match.players.map((p) => `${p.user_id}${p.connected ? " ●" : " ○"}`).join(", ");
  const result = match.result
    ? `${match.result.winner} beat ${match.result.loser}${match.result.finished_by_bot ? ` (a bot finished for ${match.result.finished_by_bot.join(", ")})` : ""}`
    : match.reason ?? "";
  $(".result", row).textContent = result;
  $("[data-test=stop-match]", row).hidden = match.state === "ended" || match.state === "failed";
}

// -- figures ------------------------------------------------------------------------------

function showFigures(metrics) {
  const set = (name, text) => { $(`[data-name=${name}]`).textContent = text; };
  const byLabel = (name, label) => (metrics.get(name) ?? [])
    .filter((s) => s.value > 0).map((s) => `${s.value} ${s.labels[label].replaceAll("_", " ")}`).join(", ");
  const games = metricSum(metrics, "rpsa_games");
  set("games", games ? `${games} (${byLabel("rpsa_games", "state")})` : "0");
  const connections = metricSum(metrics, "rpsa_connections");
  set("connections", connections ? `${connections} (${byLabel("rpsa_connections", "role")})` : "0");
  const matches = metricSum(metrics, "rpsa_matches");
  set("matches", matches ? `${matches} (${byLabel("rpsa_matches", "state")})` : "0");
  const rejected = metricSum(metrics, "rpsa_messages_rejected_total");
  set("rejected", rejected ? `${rejected} (${byLabel("rpsa_messages_rejected_total", "reason")})` : "0");
  const now = {
    at: performance.now(),
    received: metricSum(metrics, "rpsa_messages_received_total"),
    lagSum: metricSum(metrics, "rpsa_tick_lag_seconds_sum"),
    lagCount: metricSum(metrics, "rpsa_tick_lag_seconds_count"),
  };
  if (previous) {
    const seconds = (now.at - previous.at) / 1000;
    const ticks = now.lagCount - previous.lagCount;
    set("messages", seconds > 0 ? (Math.max(0, now.received - previous.received) / seconds).toFixed(1) : "—");
    set("tick-lag", ticks > 0 ? `${(((now.lagSum - previous.lagSum) / ticks) * 1000).toFixed(1)} ms average` : "no game ticking");
  }
  previous = now;
}

// -- polling ---------------------------------------------------------------------------------

async function refresh() {
  clearTimeout(timer);
  let access = null;
  try {
    access = await client.access();
  } catch (err) {
    notice(`The server cannot be reached: ${err.message}`, "error");
  }
  if (access && access.key_required && !client.apiKey) {
    // Nothing to show without the key: ask for it (and do not call what would be refused).
    $("#key-form").classList.remove("compact");
    $("#key-note").textContent = "This server needs its API key.";
    $("#key-note").dataset.kind = "error";
    $("#updated").textContent = "";
    timer = setTimeout(refresh, POLL_MS);
    return;
  }
  const [games, matches, metrics] = await Promise.allSettled([client.listGames(), client.listMatches(), client.metrics()]);
  const denied = [games, matches, metrics].some((r) => r.status === "rejected" && r.reason?.status === 401);
  const open = !denied && !client.apiKey;
  $("#key-form").classList.toggle("compact", open);
  $("#key-note").textContent = denied
    ? (client.apiKey ? "This key was refused. Type the server's API key." : "This server needs its API key.")
    : open ? "This server's API is open: no key needed."
      : "The key stays in this tab only (sessionStorage) and is sent with every API call.";
  $("#key-note").dataset.kind = denied ? "error" : "";
  if (games.status === "fulfilled") {
    syncRows($("#console-games"), games.value, (g) => g.game_id, buildGameRow, updateGameRow);
    $("#no-console-games").hidden = games.value.length > 0;
  }
  if (matches.status === "fulfilled") {
    syncRows($("#console-matches"), matches.value, (m) => m.match_id, buildMatchRow, updateMatchRow);
    $("#no-matches").hidden = matches.value.length > 0;
    $("#no-matches").textContent = "No matches.";
  } else if (matches.reason?.status === 404) {
    $("#no-matches").textContent = "The match launcher is off on this server.";
  }
  if (metrics.status === "fulfilled") showFigures(metrics.value);
  $("#updated").textContent = denied ? "" : `updated ${new Date().toLocaleTimeString()}`;
  timer = setTimeout(refresh, POLL_MS);
}

$("#key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("#api-key").value.trim();
  $("#api-key").value = "";
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
  client.apiKey = key || null;
  previous = null;
  refresh();
});
$("#forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  client.apiKey = null;
  refresh();
});

refresh();
