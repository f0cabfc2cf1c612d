"use strict";
// The live view. Its data arrive as server-sent events from /live/events: one per call to any
// of the three servers, as that server journalled it (core/events.py), and once a second the
// counters, which the server keeps, so that every tab and every reload shows the same numbers.
// Each event carries its position in the journal; a page that reconnects names the last one
// it saw (?after=) and the server resumes right after it.

const config = JSON.parse(document.getElementById("live-config").textContent);
const ROWS = 100;   // rows in the table: more than a screenful, cheap to redraw
const KEPT = 2000;  // recent calls kept to refill the table when a filter changes
const PROTOCOLS = {rest: "REST", soap: "SOAP", grpc: "gRPC"};
const MARK = {ok: "✓", fail: "✗", skip: "·"};
const AGAIN_MS = 1000, FULL_AGAIN_MS = 10000;

const $ = (id) => document.getElementById(id);

function element(tag, text, className) {
  const node = document.createElement(tag);
  // textContent, never innerHTML: a reason or a User-Agent is text that a caller chose.
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

// "generate_playlist" may break after its underscore rather than be cut.
const breakable = (name) => name.replaceAll("_", "_\u200b");

const users = new Set();
const seen = new Set();   // positions already shown: a resumed stream may repeat a few
let recent = [], queue = [], flushing = false, lastId = "", source = null;

// stopped_at: 0 when all three steps succeeded, else the step that failed (2 or 3).
const outcomeClass = (e) => (e.stopped_at === 2 ? "refused" : e.stopped_at === 3 ? "failed" : "ok");

function matches(e) {
  const protocol = $("filter-protocol").value, user = $("filter-user").value, outcome = $("filter-outcome").value;
  return (!protocol || e.protocol === protocol)
    && (!user || (user === "-" ? !e.user : e.user === user))
    && (!outcome || outcome === outcomeClass(e) || outcome === e.outcome);
}

function row(e) {
  const tr = element("tr", undefined, outcomeClass(e));
  Object.assign(tr.dataset, {protocol: e.protocol, operation: e.operation, user: e.user, outcome: e.outcome});
  const time = new Date(e.at * 1000);
  const identity = element("td", e.user || (e.claimed ? `claimed ${e.claimed}` : "anonymous"), "identity");
  // A User-Agent's product name says which client it is; its version and the rest are in the tooltip.
  identity.append(element("small", e.user ? e.auth_method : (e.client || "").split("/")[0] || e.source));
  identity.title = `${e.client} from ${e.source}`;
  const answer = element("td", undefined, "answer");
  answer.append(element("strong", e.status));
  if (e.reason) answer.append(" ", e.reason);
  tr.append(
    element("td", time.toTimeString().slice(0, 8), "time"),
    element("td", PROTOCOLS[e.protocol] || e.protocol, `protocol ${e.protocol}`),
    element("td", breakable(e.operation), "operation"),
    identity,
    ...[1, 2, 3].map((step) => stepCell(e, step)),
    answer,
    element("td", e.bytes_in.toLocaleString("en"), "num"),
    element("td", e.bytes_out.toLocaleString("en"), "num"),
    element("td", e.ms.toFixed(e.ms < 100 ? 1 : 0), "num"));
  tr.firstChild.title = time.toISOString();
  return tr;
}

function stepCell(e, step) {
  const state = !e.stopped_at || step < e.stopped_at ? "ok" : step === e.stopped_at ? "fail" : "skip";
  const td = element("td", MARK[state], `step ${state}`);
  td.dataset.step = step;
  return td;
}

function bars(list, entries) {
  if (!entries.length) {
    list.replaceChildren(element("li", "none", "empty"));
    return;
  }
  list.replaceChildren(...entries.map(([who, n, alarm]) => {
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

// The counters, the busiest callers, the defences and the solves, as the server counted them.
function renderState(state) {
  for (const [name, value] of Object.entries(state.totals)) {
    const node = $(`total-${name}`);
    node.textContent = value.toLocaleString("en");
    node.dataset.count = value;
  }
  bars($("flood"), state.flood);
  bars($("logins"), state.logins);
  $("switches").replaceChildren(...Object.entries(PROTOCOLS).map(([protocol, name]) => {
    const off = protocol in state.unsafe ? state.unsafe[protocol].split(",").filter(Boolean) : null;
    const item = element("span", undefined, `switch ${off === null ? "unknown" : off.length ? "off" : "on"}`);
    item.dataset.protocol = protocol;
    item.append(element("strong", name), " ",
      off === null ? "no call yet"
        : off.length ? `OFF: ${off.map((d) => config.defences[d] || d).join(", ")}` : "all on");
    item.title = off && off.length ? "switched off for teaching" : "";
    return item;
  }));
  if (state.solves.length) {
    $("solves").replaceChildren(...state.solves.slice().reverse().map((s) => {
      const when = new Date(s.at * 1000).toLocaleTimeString("en-GB");
      return element("span", `${s.exercise} ${s.title} ${when} (${s.hints} hint${s.hints === 1 ? "" : "s"})`, "solve");
    }));
  }
}

function renderShown() {
  const matching = recent.filter(matches).length;
  $("shown").textContent = `${matching.toLocaleString("en")} of ${recent.length.toLocaleString("en")} shown`;
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
  for (const e of batch) {
    if (e.user && !users.has(e.user)) {
      users.add(e.user);
      $("filter-user").append(new Option(e.user, e.user));
    }
  }
  recent = recent.concat(batch).slice(-KEPT);
  const table = $("calls");
  table.prepend(...batch.filter(matches).slice(-ROWS).reverse().map(row));
  while (table.rows.length > ROWS) table.lastElementChild.remove();
  renderShown();
}

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

function receive(message) {
  lastId = message.lastEventId;
  if (seen.has(lastId)) return;
  seen.add(lastId);
  if (seen.size > KEPT) seen.delete(seen.values().next().value);
  queue.push(JSON.parse(message.data));
  if (!flushing) {
    flushing = true;
    setTimeout(flush, 50);
  }
}

// The server tells the page why a stream ends. EventSource would reconnect by itself, but
// only after an error (and never after a refusal), and it cannot tell a planned end from a
// failure: so the page closes each stream itself and opens the next one.
function connect(after) {
  const status = $("status");
  status.dataset.streams = Number(status.dataset.streams) + 1;
  source = new EventSource(config.events + (after ? `?after=${encodeURIComponent(after)}` : ""));
  source.onmessage = receive;
  // An admitted stream starts with the counters (a refused one with `full`): live from then on.
  source.addEventListener("state", (message) => {
    if (status.dataset.state !== "live") setStatus("live", "● live");
    renderState(JSON.parse(message.data));
  });
  // A stream ends on schedule: resume at once, right after the last call seen. No visible gap.
  source.addEventListener("rollover", () => again(0));
  source.addEventListener("stopped", () => {
    setStatus("stopped", "server stopped: reconnecting when it is back…");
    again(AGAIN_MS);
  });
  source.addEventListener("full", (message) => {
    const {viewers} = JSON.parse(message.data);
    setStatus("full", `viewer limit reached (${viewers} pages per server process): close a tab; trying again…`);
    again(FULL_AGAIN_MS);
  });
  source.onerror = () => {
    if ($("status").dataset.state !== "stopped") setStatus("reconnecting", "connection lost: reconnecting…");
    again(AGAIN_MS);
  };
}

function again(delay) {
  source.close();
  source.onerror = null;
  setTimeout(() => connect(lastId), delay);
}

connect("");
for (const id of ["filter-protocol", "filter-user", "filter-outcome"]) $(id).addEventListener("change", redraw);
renderShown();
