"use strict";
// The live view. Its data arrive as server-sent events from /live/events, one per call to any
// of the three servers, as that server journalled it (core/events.py). EventSource keeps the
// connection open, reconnects by itself when the server ends it, and sends the id of the last
// event it saw (Last-Event-ID), so the server resumes where the page left off.

const config = JSON.parse(document.getElementById("live-config").textContent);
const ROWS = 100;   // rows in the table: a screenful, cheap to redraw
const KEPT = 2000;  // recent calls kept to refill the table when a filter changes
const PROTOCOLS = {rest: "REST", soap: "SOAP", grpc: "gRPC"};
const MARK = {ok: "✓", fail: "✗", skip: "·"};

const $ = (id) => document.getElementById(id);

function element(tag, text, className) {
  const node = document.createElement(tag);
  // textContent, never innerHTML: a reason or a User-Agent is text that a caller chose.
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

// How many calls each caller made in the last `seconds`: a queue of calls, oldest first,
// and a count per caller that grows as calls arrive and shrinks as they age out.
class SlidingCount {
  constructor(seconds) { this.seconds = seconds; this.calls = []; this.counts = new Map(); }

  add(at, caller) {
    this.calls.push([at, caller]);
    this.counts.set(caller, (this.counts.get(caller) || 0) + 1);
  }

  expire(now) {
    let gone = 0;
    while (gone < this.calls.length && this.calls[gone][0] < now - this.seconds) {
      const caller = this.calls[gone++][1];
      const left = this.counts.get(caller) - 1;
      if (left) this.counts.set(caller, left); else this.counts.delete(caller);
    }
    this.calls.splice(0, gone);
  }

  top(n) { return [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, n); }
}

const totals = {total: 0, ok: 0, refused: 0, failed: 0, rest: 0, soap: 0, grpc: 0};
const lastTen = new SlidingCount(10), refusals = new SlidingCount(60);
// The defences each server has switched off: REST's from its own settings, the others' from
// their latest call.
const unsafe = {rest: config.rest_unsafe.join(",")};
const users = new Set();
let recent = [], queue = [], flushing = false, switchesShown = "";

// A user once the server knew them; before that, the client's own description of itself.
const caller = (e) => e.user || `anonymous · ${e.client || "unknown client"}`;
// stopped_at: 0 when all three steps succeeded, else the step that failed (2 or 3).
const outcomeClass = (e) => (e.stopped_at === 2 ? "refused" : e.stopped_at === 3 ? "failed" : "ok");

function matches(e) {
  const protocol = $("filter-protocol").value, user = $("filter-user").value, outcome = $("filter-outcome").value;
  return (!protocol || e.protocol === protocol)
    && (!user || (user === "-" ? !e.user : e.user === user))
    && (!outcome || outcome === outcomeClass(e) || outcome === e.outcome);
}

function count(e) {
  totals.total++;
  totals[outcomeClass(e)]++;
  if (e.protocol in PROTOCOLS) totals[e.protocol]++;
  lastTen.add(e.at, caller(e));
  if (e.stopped_at === 2) refusals.add(e.at, caller(e));
  if (e.protocol !== "rest") unsafe[e.protocol] = e.unsafe;
  if (e.user && !users.has(e.user)) {
    users.add(e.user);
    $("filter-user").append(new Option(e.user, e.user));
  }
}

function row(e) {
  const tr = element("tr", undefined, outcomeClass(e));
  Object.assign(tr.dataset, {protocol: e.protocol, operation: e.operation, user: e.user, outcome: e.outcome});
  const time = new Date(e.at * 1000);
  const identity = element("td", e.user || "anonymous", "identity");
  identity.append(element("small", e.user ? e.auth_method : e.client));
  identity.title = e.client;
  tr.append(
    element("td", `${time.toTimeString().slice(0, 8)}.${String(time.getMilliseconds()).padStart(3, "0")}`, "time"),
    element("td", PROTOCOLS[e.protocol] || e.protocol, `protocol ${e.protocol}`),
    element("td", e.operation, "operation"),
    identity,
    ...[1, 2, 3].map((step) => stepCell(e, step)),
    element("td", e.bytes_in.toLocaleString("en"), "num"),
    element("td", e.bytes_out.toLocaleString("en"), "num"),
    element("td", e.ms.toFixed(1), "num"));
  return tr;
}

function stepCell(e, step) {
  const state = !e.stopped_at || step < e.stopped_at ? "ok" : step === e.stopped_at ? "fail" : "skip";
  const td = element("td", MARK[state], `step ${state}`);
  td.dataset.step = step;
  if (step === (e.stopped_at || 3)) {  // the step that gave the answer: its status and why
    td.append(" ", element("strong", e.status));
    if (state === "fail" && e.reason) td.append(" ", e.reason);
    td.title = `${e.status} ${e.reason || ""}`.trim();
  }
  return td;
}

function bars(list, entries, alarm) {
  if (!entries.length) {
    list.replaceChildren(element("li", "none", "empty"));
    return;
  }
  list.replaceChildren(...entries.map(([who, n]) => {
    const item = element("li", undefined, n >= alarm ? "alarm" : "");
    const fill = element("span", undefined, "fill");
    fill.style.width = `${Math.min(100, (100 * n) / alarm)}%`;
    item.append(element("span", who, "who"), element("span", undefined, "track"), element("span", String(n), "n"));
    item.children[1].append(fill);
    item.dataset.caller = who;
    item.dataset.count = n;
    return item;
  }));
}

function renderCounters() {
  for (const [name, value] of Object.entries(totals)) {
    const node = $(name === "total" ? "total" : `total-${name}`);
    node.textContent = value.toLocaleString("en");
    node.dataset.count = value;
  }
  const now = Date.now() / 1000;  // the servers' clocks are this machine's: they journal time.time()
  lastTen.expire(now);
  refusals.expire(now);
  bars($("flood"), lastTen.top(6), config.flood_per_10s);
  bars($("brute-force"), refusals.top(6), config.brute_force_per_60s);
  renderSwitches();
}

function renderSwitches() {
  const shown = JSON.stringify(unsafe);
  if (shown === switchesShown) return;
  switchesShown = shown;
  $("switches").replaceChildren(...Object.entries(PROTOCOLS).map(([protocol, name]) => {
    const off = protocol in unsafe ? (unsafe[protocol] || "").split(",").filter(Boolean) : null;
    const item = element("li", undefined, off === null ? "unknown" : off.length ? "off" : "on");
    item.dataset.protocol = protocol;
    item.append(element("strong", name), " ",
      off === null ? "no call yet"
        : off.length ? `OFF for teaching: ${off.map((d) => config.defences[d] || d).join(", ")}` : "all defences on");
    return item;
  }));
}

function renderShown() {
  const matching = recent.filter(matches).length;
  const kept = recent.length.toLocaleString("en");
  $("shown").textContent = `${matching.toLocaleString("en")} of the last ${kept} calls match`;
}

function redraw() {
  $("calls").replaceChildren(...recent.filter(matches).slice(-ROWS).reverse().map(row));
  renderShown();
}

// Calls may arrive by the thousand per second: collect them, and draw at most 20 times a second.
function flush() {
  flushing = false;
  const batch = queue;
  queue = [];
  batch.forEach(count);
  recent = recent.concat(batch).slice(-KEPT);
  const table = $("calls");
  table.prepend(...batch.filter(matches).slice(-ROWS).reverse().map(row));
  while (table.rows.length > ROWS) table.lastElementChild.remove();
  renderCounters();
  renderShown();
}

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

// A workshop solve is no call: it goes to its own list, not into the counters.
function solved(e) {
  const item = document.createElement("li");
  const when = new Date(e.at * 1000).toLocaleTimeString("en-GB");
  item.textContent = `${when}  exercise ${e.exercise}: ${e.title}  (${e.hints} hint${e.hints === 1 ? "" : "s"})`;
  $("solves").querySelector(".none")?.remove();
  $("solves").prepend(item);
}

// A new connection starts with a backlog: what was seen already is skipped. Not by time alone:
// each server process writes its calls in batches, so a call may reach the journal after a
// later call of another process.
const seen = new Set();
const SEEN_KEPT = 5000;

function receive(message) {
  const e = JSON.parse(message.data);
  const key = `${e.at} ${e.protocol} ${e.operation} ${e.kind}`;
  if (seen.has(key)) return;
  if (seen.size >= SEEN_KEPT) seen.delete(seen.values().next().value);
  seen.add(key);
  if (e.kind === "solve") return solved(e);
  queue.push(e);
  if (!flushing) {
    flushing = true;
    setTimeout(flush, 50);
  }
}

// EventSource reconnects by itself after a dropped stream, but gives up for good on an
// answer other than 200 (the server's 503 when every live-view slot is taken): then we
// open a new one a few seconds later.
function connect() {
  const source = new EventSource(config.events);
  source.onopen = () => setStatus("live", "● live");
  source.onmessage = receive;
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) return setStatus("reconnecting", "reconnecting…");
    setStatus("reconnecting", "the server is busy: trying again…");
    setTimeout(connect, 3000);
  };
}

connect();
for (const id of ["filter-protocol", "filter-user", "filter-outcome"]) $(id).addEventListener("change", redraw);
setInterval(renderCounters, 1000);
renderCounters();
renderShown();
