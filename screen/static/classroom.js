"use strict";
// The class's two pages. Both call the workshop API (/v1/workshop/…) with a key the visitor
// typed, which stays in this tab's sessionStorage: /workshop with a seat's API key (a seat
// code is traded for one), /class with the trainer's key.

const $ = (id) => document.getElementById(id);
const STORE = {workshop: "seat-key", class: "trainer-key"};
const page = document.body.className;

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;   // text, never HTML: it came over the wire
  if (className) node.className = className;
  return node;
}

function clock(at) {
  return new Date(at * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
}

// One call of the workshop API; a problem+json answer becomes an Error with its detail.
async function call(method, path, body) {
  const headers = {"X-API-Key": sessionStorage.getItem(STORE[page]) || "", Accept: "application/json"};
  if (body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {method, headers, body: body && JSON.stringify(body)});
  if (response.status === 204) return null;
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.detail || response.statusText);
  return answer;
}

function failed(error) { $("error").textContent = error.message; }

function signInWith(exchange, show) {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      sessionStorage.setItem(STORE[page], await exchange(event.target.secret.value.trim()));
      $("error").textContent = "";
      await show();
    } catch (error) { sessionStorage.removeItem(STORE[page]); failed(error); }
  });
  if (sessionStorage.getItem(STORE[page])) show().catch(failed);
}

// --- /workshop: one seat --------------------------------------------------------------------

let chosen = null;   // the number of the exercise open below the list

async function seatCode(secret) {
  // An API key is used as it is; anything else is taken for the code on the seat's card.
  return secret.startsWith("pk_") ? secret : (await call("POST", "/v1/workshop/signin", {code: secret})).api_key;
}

async function showSeat() {
  const [me, listing, defences] = await Promise.all(
    [fetch("/v1/me", {headers: {"X-API-Key": sessionStorage.getItem(STORE.workshop), Accept: "application/json"}})
       .then((r) => r.json()), call("GET", "/v1/workshop/exercises"), call("GET", "/v1/workshop/defences")]);
  $("signin").hidden = true;
  $("seat").hidden = false;
  $("who").textContent = `signed in as ${me.name}`;
  const items = listing.items;
  $("progress").textContent = `${items.filter((e) => e.solved_at).length} of ${items.length} solved`;
  $("exercises").replaceChildren(...items.map((e) => {
    const item = element("li");
    const link = element("a", `${e.title}`);
    link.href = "#";
    link.addEventListener("click", (event) => { event.preventDefault(); open(e.number, "start"); });
    item.append(link, element("span", ` · ${e.topic}${e.solved_at ? ` · ✓ solved at ${clock(e.solved_at)}` : ""}`,
                                       "note"));
    return item;
  }));
  $("defences").replaceChildren(...Object.entries(defences).map(([name, on]) => {
    const item = element("li");
    const box = element("input");
    box.type = "checkbox";
    box.checked = on;
    box.addEventListener("change", () => call("PUT", `/v1/workshop/defences/${name}`, {enabled: box.checked})
      .then(showSeat, failed));
    item.append(box, element("span", ` ${name}: ${on ? "on" : "OFF for your seat"}`));
    return item;
  }));
}

async function open(number, action) {
  const e = await call("POST", `/v1/workshop/exercises/${number}:${action}`).catch(failed);
  if (!e) return;
  chosen = number;
  $("exercise").hidden = false;
  $("title").textContent = `Exercise ${e.number} · ${e.title}`;
  $("goal").textContent = e.goal;
  $("hints").replaceChildren(...e.hints.map((hint) => element("li", hint, "hint")));
  $("hint").disabled = e.hints.length >= e.hints_total;
  $("verdict").textContent = "";
}

async function check() {
  const result = await call("POST", `/v1/workshop/exercises/${chosen}:check`).catch(failed);
  if (!result) return;
  $("verdict").textContent = `${result.solved ? "✓ Solved." : "✗ Not yet."} ${result.message}`;
  if (result.solved) showSeat().catch(failed);
}

// --- /class: the trainer ------------------------------------------------------------------

async function trainerKey(secret) {
  sessionStorage.setItem(STORE.class, secret);
  await call("GET", "/v1/workshop/scoreboard");   // refused with 401 unless it is the trainer's
  return secret;
}

async function showBoard() {
  const board = await call("GET", "/v1/workshop/scoreboard");
  $("signin-form").hidden = true;
  $("board").hidden = false;
  $("live").href = `/live?key=${encodeURIComponent(board.viewer_key)}`;
  const head = element("tr");
  head.append(element("th", "seat"), element("th", "solved"),
              ...board.exercises.map((e) => Object.assign(element("th", String(e.number)), {title: e.title})),
              element("th", "defences off"), element("th"));
  $("head").replaceChildren(head);
  $("seats").replaceChildren(...board.seats.map((seat) => {
    const row = element("tr");
    const cells = board.exercises.map((e) => {
      const p = seat.exercises[e.number];
      return element("td", !p ? "" : p.solved_at ? `✓ ${clock(p.solved_at)} (${p.hints})` : "…");
    });
    const reset = element("button", "reset");
    reset.addEventListener("click", () => confirm(`Reset ${seat.seat}? Its secrets stay.`) &&
      call("POST", `/v1/workshop/seats/${seat.seat}:reset`).then(showBoard, failed));
    const last = element("td");
    last.append(reset);
    row.append(element("th", seat.seat), element("td", String(seat.solved)), ...cells,
               element("td", seat.defences_off.join(", ")), last);
    return row;
  }));
}

if (page === "workshop" && $("signin-form")) {
  signInWith(seatCode, showSeat);
  $("hint").addEventListener("click", () => open(chosen, "hint"));
  $("check").addEventListener("click", check);
  $("signout").addEventListener("click", () => { sessionStorage.removeItem(STORE.workshop); location.reload(); });
}
if (page === "class" && $("signin-form")) {
  signInWith(trainerKey, showBoard);
  $("reset-room").addEventListener("click", () => confirm("Reset the whole room for the next group? Every secret stays.")
    && call("POST", "/v1/workshop/seats:reset").then(showBoard, failed));
  setInterval(() => { if (!$("board").hidden) showBoard().catch(failed); }, 3000);
}
