// sockgate's dashboard: reads the node's event stream (one sample every
// 2 s, the last 15 minutes first), plots it, and looks up connections and
// groups through the dashboard's API. Every value a client could have
// chosen (a user agent, an address, a route key) is set as text, never as
// markup.
"use strict";

const WINDOW_MS = 15 * 60 * 1000;
const MAX_LINES = 8;
const COLORS = ["#2f6fed", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0c8599", "#e67700", "#495057"];
const samples = [];

const $ = (id) => document.getElementById(id);

function text(el, value) {
  el.textContent = value;
  return el;
}

function make(tag, value, cls) {
  const el = text(document.createElement(tag), value === undefined ? "" : value);
  if (cls) el.className = cls;
  return el;
}

function fmtRate(v) {
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function sum(obj) {
  return Object.values(obj || {}).reduce((a, b) => a + b, 0);
}

// ---- plots -----------------------------------------------------------------

// Each plot: how one sample becomes named values.
const PLOTS = {
  "plot-connections": (s) => {
    const out = {};
    const nodes = s.cluster ? s.cluster.nodes : [];
    if (nodes.length > 1) {
      for (const n of nodes) for (const [stage, v] of Object.entries(n.connections)) out[`${stage} @ ${n.node}`] = v;
    } else {
      for (const [stage, v] of Object.entries(s.connections)) out[stage] = v;
    }
    return out;
  },
  "plot-churn": (s) => ({ connects: s.connects, disconnects: s.disconnects }),
  "plot-in": (s) => s.messages_in,
  "plot-out": (s) => s.messages_out,
  "plot-http": (s) => {
    const out = {};
    for (const [route, classes] of Object.entries(s.http)) {
      for (const [cls, v] of Object.entries(classes)) out[`${route} ${cls}`] = v;
    }
    return out;
  },
  "plot-latency": (s) => {
    const out = {};
    for (const [route, q] of Object.entries(s.latency)) {
      if (q.p50 !== null) out[`${route} p50`] = q.p50;
      if (q.p99 !== null) out[`${route} p99`] = q.p99;
    }
    return out;
  },
  "plot-errors": (s) => s.errors,
};

// Rates a sample leaves out are zero; a latency it leaves out is unknown.
const ZERO_FILLED = new Set(["plot-churn", "plot-in", "plot-out", "plot-http", "plot-errors"]);

function series(pick, zeroFilled) {
  const lines = new Map();
  const picked = samples.map((s) => [s.t, pick(s) || {}]);
  for (const [, values] of picked) for (const name of Object.keys(values)) lines.set(name, []);
  for (const [t, values] of picked) {
    for (const [name, pts] of lines) {
      if (name in values) pts.push([t, values[name]]);
      else if (zeroFilled) pts.push([t, 0]);
    }
  }
  // The busiest lines, by their peak over the window.
  const ranked = [...lines.entries()].sort(
    (a, b) => Math.max(...b[1].map((p) => p[1])) - Math.max(...a[1].map((p) => p[1])),
  );
  return { shown: ranked.slice(0, MAX_LINES), hidden: Math.max(0, ranked.length - MAX_LINES) };
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function draw(canvas, pick, now) {
  const zeroFilled = ZERO_FILLED.has(canvas.id);
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * ratio)) canvas.width = Math.round(w * ratio);
  if (canvas.height !== Math.round(h * ratio)) canvas.height = Math.round(h * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const { shown, hidden } = series(pick, zeroFilled);
  const left = 44, right = 8, top = 8, bottom = 20;
  const pw = w - left - right, ph = h - top - bottom;
  let max = 0;
  for (const [, pts] of shown) for (const [, v] of pts) max = Math.max(max, v);
  max = niceMax(max);
  const x = (t) => left + ((t - (now - WINDOW_MS)) / WINDOW_MS) * pw;
  const y = (v) => top + ph - (v / max) * ph;
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#667085";
  ctx.strokeStyle = "#e3e6eb";
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(left, yy);
    ctx.lineTo(w - right, yy);
    ctx.stroke();
    ctx.textAlign = "right";
    ctx.fillText(String(Number(v.toFixed(v >= 10 ? 0 : 2))), left - 4, yy + 4);
  }
  ctx.textAlign = "center";
  for (let m = 15; m >= 0; m -= 5) ctx.fillText(m ? `-${m}m` : "now", x(now - m * 60000), h - 4);
  let points = 0;
  shown.forEach(([, pts], i) => {
    ctx.strokeStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    pts.forEach(([t, v], j) => (j ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
    if (pts.length === 1) ctx.arc(x(pts[0][0]), y(pts[0][1]), 1.5, 0, 2 * Math.PI);
    ctx.stroke();
    points += pts.length;
  });
  canvas.dataset.points = String(points);
  const legend = canvas.nextElementSibling;
  legend.replaceChildren(
    ...shown.map(([name], i) => {
      const item = make("span", "");
      const swatch = make("span", "", "swatch");
      swatch.style.background = COLORS[i % COLORS.length];
      item.append(swatch, document.createTextNode(name));
      return item;
    }),
  );
  if (hidden) legend.append(make("span", `+${hidden} more`));
}

function drawAll() {
  const now = samples.length ? samples[samples.length - 1].t : Date.now();
  for (const [id, pick] of Object.entries(PLOTS)) draw($(id), pick, now);
}

// ---- figures -----------------------------------------------------------------

function setFigure(id, value, shown) {
  const el = $(id);
  el.dataset.value = String(value);
  text(el, shown);
}

function show(s) {
  text($("node"), s.node);
  text($("generation"), String(s.config.generation));
  text($("digest"), s.config.digest);
  const r = s.config.last_reload;
  text($("reload"), r ? `${r.outcome} at ${r.at}${r.errors.length ? ` (${r.errors.length} error(s): ${r.errors[0]})` : ""}` : "none");
  const t = s.totals;
  setFigure("total-connections", t.connections, String(t.connections));
  setFigure("total-connects", t.connects, String(t.connects));
  setFigure("total-messages-in", t.messages_in, String(t.messages_in));
  setFigure("total-messages-out", t.messages_out, String(t.messages_out));
  setFigure("total-http", t.http_requests, String(t.http_requests));
  const rin = sum(s.messages_in), rout = sum(s.messages_out), rerr = sum(s.errors);
  const rhttp = Object.values(s.http).reduce((a, c) => a + sum(c), 0);
  setFigure("rate-in", rin, fmtRate(rin));
  setFigure("rate-out", rout, fmtRate(rout));
  setFigure("rate-http", rhttp, fmtRate(rhttp));
  setFigure("rate-errors", rerr, fmtRate(rerr));
  showCluster(s.cluster);
  showFunctions(s);
  showStages(s.stages);
}

function row(cells, classes) {
  const tr = document.createElement("tr");
  cells.forEach((c, i) => tr.append(make("td", c, classes && classes[i])));
  return tr;
}

function showCluster(c) {
  const body = $("nodes").tBodies[0];
  if (!c) {
    text($("redis"), "single node (no [cluster])");
    body.replaceChildren();
    return;
  }
  const rtt = c.redis_rtt_ms === null ? "no answer" : `${c.redis_rtt_ms.toFixed(2)} ms`;
  text($("redis"), `Redis ${c.redis_up ? "up" : "DOWN"} · round trip ${rtt} · ${c.nodes.length} node(s)`);
  body.replaceChildren(
    ...c.nodes.map((n) =>
      row(
        [n.node + (n.this ? " (this)" : ""), n.alive ? "alive" : "lost", `${(n.beat_age_ms / 1000).toFixed(1)} s ago`, String(sum(n.connections))],
        [null, n.alive ? "alive" : "dead"],
      ),
    ),
  );
}

function showFunctions(s) {
  const names = Object.keys(s.workers);
  $("no-functions").hidden = names.length > 0;
  $("functions").tBodies[0].replaceChildren(
    ...names.map((name) => {
      const f = s.functions[name] || { busy: 0, waiting: 0, invocations: 0, restarts: 0 };
      return row([name, String(s.workers[name]), String(f.busy), String(f.waiting), fmtRate(f.invocations), String(f.restarts)]);
    }),
  );
}

function showStages(stages) {
  const select = $("groups-stage");
  const current = [...select.options].map((o) => o.value).join("\n");
  if (current === stages.join("\n")) return;
  const chosen = select.value;
  select.replaceChildren(...stages.map((st) => Object.assign(make("option", st), { value: st })));
  if (stages.includes(chosen)) select.value = chosen;
  select.dispatchEvent(new Event("change"));
}

// ---- the stream ------------------------------------------------------------

function add(s) {
  samples.push(s);
  const oldest = s.t - WINDOW_MS;
  while (samples.length && samples[0].t < oldest) samples.shift();
}

function connect() {
  const live = $("live");
  const events = new EventSource("events");
  events.addEventListener("history", (e) => {
    samples.length = 0;
    for (const s of JSON.parse(e.data)) add(s);
    if (samples.length) show(samples[samples.length - 1]);
    drawAll();
  });
  events.onmessage = (e) => {
    const s = JSON.parse(e.data);
    add(s);
    show(s);
    drawAll();
  };
  events.onopen = () => {
    live.className = "live";
    text(live, "live");
  };
  events.onerror = () => {
    live.className = "live off";
    text(live, "reconnecting");
  };
}

// ---- connection lookup -------------------------------------------------------

let looked = null;

async function api(method, path, body) {
  const headers = method === "GET" ? {} : { "X-Sockgate-Dashboard": "1" };
  const resp = await fetch(`api/${path}`, { method, headers, body });
  let data = null;
  const type = resp.headers.get("content-type") || "";
  if (type.startsWith("application/json")) data = await resp.json();
  return { ok: resp.ok, status: resp.status, data };
}

function status(id, message, error) {
  const el = text($(id), message);
  el.className = error ? "status error" : "status";
}

function failure(r) {
  const why = r.data && r.data.message ? r.data.message : `HTTP ${r.status}`;
  return r.status === 410 ? "gone: no such connection is open" : why;
}

async function lookUp(id) {
  const dl = $("connection");
  const r = await api("GET", `connections/${encodeURIComponent(id)}`);
  if (!r.ok) {
    dl.replaceChildren();
    $("send").hidden = true;
    looked = null;
    status("lookup-status", failure(r), true);
    return;
  }
  looked = id;
  const c = r.data;
  const facts = [
    ["stage", c.stage], ["node", c.node], ["source", c.sourceIp], ["user agent", c.userAgent || "—"],
    ["connected", `${c.connectedAt} (${c.ageSeconds} s ago)`], ["last active", c.lastActiveAt],
    ["groups", c.groups.length ? c.groups.join(", ") : "none"],
    ["queued", `${c.queuedMessages} message(s), ${c.queuedBytes} bytes`],
  ];
  dl.replaceChildren(...facts.flatMap(([k, v]) => [make("dt", k), make("dd", v)]));
  dl.dataset.connection = id;
  $("send").hidden = false;
  status("lookup-status", `found ${id}`);
}

function wire() {
  $("lookup").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("lookup-id").value.trim();
    if (id) lookUp(id).catch((err) => status("lookup-status", String(err), true));
  });
  $("send").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!looked) return;
    const r = await api("POST", `connections/${encodeURIComponent(looked)}`, $("send-text").value);
    status("lookup-status", r.ok ? `sent to ${looked}` : failure(r), !r.ok);
  });
  $("disconnect").addEventListener("click", async () => {
    if (!looked) return;
    const r = await api("DELETE", `connections/${encodeURIComponent(looked)}`);
    status("lookup-status", r.ok ? `disconnected ${looked}` : failure(r), !r.ok);
    if (r.ok) $("send").hidden = true;
  });
  let next = null;
  const page = async (after) => {
    const stage = $("groups-stage").value;
    if (!stage) return;
    const q = `groups?stage=${encodeURIComponent(stage)}&limit=50${after ? `&after=${encodeURIComponent(after)}` : ""}`;
    const r = await api("GET", q);
    if (!r.ok) {
      status("groups-status", failure(r), true);
      return;
    }
    next = r.data.next;
    $("groups-next").disabled = !next;
    status("groups-status", `${r.data.total} group(s) in ${stage} on this node`);
    $("groups").tBodies[0].replaceChildren(...r.data.groups.map((g) => row([g.name, String(g.members)])));
  };
  $("groups-first").addEventListener("click", () => page(null));
  $("groups-next").addEventListener("click", () => page(next));
  $("groups-stage").addEventListener("change", () => page(null));
  window.addEventListener("resize", drawAll);
}

wire();
connect();
