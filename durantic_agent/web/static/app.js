// durantic machine page: polls the JSON API every 2 s and rebuilds tables with DOM nodes and textContent
// only (never innerHTML with data), so every value from BGP or a config file is shown as text.
"use strict";

const REFRESH_MS = 2000;
const state = { tab: "routing", page: 1, pageSize: 100, filter: "", open: new Set(), timer: null, busy: false, again: false };

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function dash(v) { return v === null || v === undefined || v === "" ? "-" : String(v); }

// A duration in seconds (the API's *_seconds keys) as '41s', '3m12s', '3h12m', '2d04h'; null is "-".
function dur(secs) {
  if (secs === null || secs === undefined) return "-";
  const s = Math.max(0, Math.floor(secs));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
  return Math.floor(s / 86400) + "d" + String(Math.floor((s % 86400) / 3600)).padStart(2, "0") + "h";
}

function bytes(n) {
  if (n === null || n === undefined) return "-";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + u[i];
}

function badge(text, kind, title) { return h("span", { class: "badge b-" + kind, title }, text); }

function reachBadge(reach) {
  const r = String(reach || "");
  if (r === "direct") return badge("Direct", "ok");
  if (r === "local") return badge("Local", "info");
  if (r === "unreachable") return badge("Unreachable", "bad");
  if (r.startsWith("transit")) return badge("Transit" + r.slice(7), "warn");
  return badge(r || "-", "muted");
}

function comms(p) {
  const wk = new Set(["no-export", "no-advertise", "no-export-subconfed", "no-peer", "graceful-shutdown",
    "blackhole", "llgr-stale", "no-llgr", "accept-own"]);
  const out = [];
  for (const c of p.communities || []) out.push(h("span", { class: wk.has(c) ? "comm wk" : "comm" }, c));
  for (const c of p.large_communities || []) out.push(h("span", { class: "comm" }, c));
  return out.length ? out : ["-"];
}

// Health states as the API names them (health/fsm.py): up and down, rising and falling between them.
function healthClass(s) {
  return s === "up" ? "ok" : s === "down" ? "bad" : s === "rising" || s === "falling" ? "warn" : "muted";
}

function pathState(p) {
  const out = [];
  if (p.source === "local") {
    if (p.health) out.push(badge(p.health, healthClass(p.health), "health check"));
  } else if (p.best) {
    out.push(p.installed ? badge("installed", "ok", "in the kernel and WireGuard AllowedIPs")
      : badge("not installed", "warn", "best path not (yet) in the kernel"));
  }
  if (p.stale) out.push(" ", badge("stale", "warn", "kept across a peer restart (graceful restart)"));
  return out.length ? out : ["-"];
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || r.status + " " + r.statusText);
  return body;
}

function setRows(tbody, rows) { tbody.replaceChildren(...rows); }

// ---- Routing ----------------------------------------------------------------------------------------------

function destRow(d) {
  const p = d.paths[0];
  const open = state.open.has(d.prefix);
  const hasBest = !!p.best;
  const tr = h("tr", { class: "dest" + (hasBest ? " best" : " nobest") + (open ? " open" : ""),
    dataset: { prefix: d.prefix }, "aria-expanded": String(open) },
    h("td", null, h("span", { class: "caret" }, open ? "\u25BE" : "\u25B8"),
      hasBest ? h("span", { class: "star", title: "best path" }, "\u2605") : ""),
    h("td", { class: "mono" }, d.prefix),
    h("td", null, p.source),
    h("td", null, reachBadge(p.reach)),
    h("td", null, pathState(p)),
    h("td", { class: "mono" }, p.next_hop),
    h("td", { class: "mono" }, p.as_path.length ? p.as_path.join(" ") : "-"),
    h("td", { class: "num" }, dash(p.local_pref)),
    h("td", { class: "num" }, dash(p.med)),
    h("td", null, p.origin),
    h("td", { title: p.received_at || "" }, dur(p.age_seconds)),
    h("td", null, comms(p)),
    h("td", { class: "num" }, String(d.paths.length)),
    h("td", { class: "reason" }, d.best_reason));
  tr.addEventListener("click", () => {
    if (state.open.has(d.prefix)) state.open.delete(d.prefix); else state.open.add(d.prefix);
    const next = tr.nextElementSibling;
    if (next && next.classList.contains("detail")) { next.remove(); tr.classList.remove("open"); }
    else { tr.after(detailRow(d)); tr.classList.add("open"); }
    tr.setAttribute("aria-expanded", String(state.open.has(d.prefix)));
    tr.querySelector(".caret").textContent = state.open.has(d.prefix) ? "\u25BE" : "\u25B8";
  });
  return tr;
}

function detailRow(d) {
  const why = new Map(d.explain.map((e) => [e.path_index, e]));
  const rows = d.paths.map((p, i) => {
    const e = why.get(i);
    let verdict;
    if (i === 0 && p.best) verdict = h("span", { class: "reason" }, "best: " + d.best_reason);
    else if (e) verdict = [h("span", { class: "lost" }, "lost: " + e.text), " ", h("span", { class: "rule" }, e.rule)];
    else verdict = "-";
    return h("tr", { class: i === 0 && p.best ? "is-best" : "alt" },
      h("td", null, i === 0 && p.best ? h("span", { class: "star" }, "\u2605") : String(i + 1)),
      h("td", null, p.source, p.neighbor_ip ? h("span", { class: "muted mono" }, " " + p.neighbor_ip) : ""),
      h("td", null, reachBadge(p.reach)),
      h("td", { class: "mono" }, p.next_hop),
      h("td", { class: "mono" }, p.as_path.length ? p.as_path.join(" ") : "-"),
      h("td", null, dash(p.local_pref)), h("td", null, dash(p.med)), h("td", null, p.origin),
      h("td", { title: p.received_at || "" }, dur(p.age_seconds)),
      h("td", null, comms(p)),
      h("td", { class: "verdict" }, verdict));
  });
  const alts = h("table", { class: "alts" },
    h("thead", null, h("tr", null, ...["#", "Via", "Reach", "Next hop", "AS path", "LP", "MED", "Origin", "Age",
      "Communities", "Why"].map((t) => h("th", null, t)))),
    h("tbody", null, rows));
  const n = d.paths.length;
  const summary = h("p", { class: "summary" },
    n === 1 ? "Only one path." : n + " paths; the best won: ", n === 1 ? "" : h("strong", null, d.best_reason));
  return h("tr", { class: "detail", dataset: { prefix: d.prefix } }, h("td", { colspan: "14" }, summary, alts));
}

async function loadRib() {
  const q = new URLSearchParams({ filter: state.filter, page: String(state.page), page_size: String(state.pageSize) });
  const data = await getJSON("api/rib?" + q.toString());
  const pages = Math.max(1, Math.ceil(data.total / state.pageSize));
  if (state.page > pages) { state.page = pages; return loadRib(); }
  const rows = [];
  for (const d of data.routes) {
    if (!d.paths.length) continue;
    rows.push(destRow(d));
    if (state.open.has(d.prefix)) rows.push(detailRow(d));
  }
  setRows(document.querySelector("#rib tbody"), rows);
  document.getElementById("rib-empty").hidden = data.total > 0;
  document.getElementById("rib-count").textContent = data.total + (data.total === 1 ? " route" : " routes");
  document.getElementById("pageinfo").textContent = "page " + state.page + " of " + pages;
  document.getElementById("prev").disabled = state.page <= 1;
  document.getElementById("next").disabled = state.page >= pages;
}

// ---- Peers ------------------------------------------------------------------------------------------------

function stateBadge(s) {
  const v = String(s || "unknown");
  if (v === "established") return badge("Established", "ok");
  if (v === "idle" || v === "active" || v === "connect") return badge(v[0].toUpperCase() + v.slice(1), "bad");
  return badge(v, "warn");
}

function pathTypeCell(t) {
  const v = String(t || "-");
  if (v.startsWith("Direct")) return badge(v, "ok");
  if (v.startsWith("Transit")) return badge(v, "warn");
  return v;
}

function livenessCell(lv) {
  if (!lv) return "-";
  if (lv.via === "bfd") return badge("bfd " + lv.state, lv.state === "up" ? "ok" : lv.state === "down" ? "bad" : "muted");
  if (lv.state === "up") {
    return badge(lv.rtt_seconds === null ? "up" : "up " + (lv.rtt_seconds * 1000).toFixed(1) + " ms", "ok");
  }
  if (lv.state === "down") return badge("down " + dur(lv.for_seconds), "bad", lv.since || "");
  return badge(lv.state, "muted");
}

async function loadPeers() {
  const peers = await getJSON("api/peers");
  setRows(document.querySelector("#peers-table tbody"), peers.map((p) => h("tr", { dataset: { peer: p.name } },
    h("td", null, h("strong", null, p.name)),
    h("td", { class: "mono" }, p.address),
    h("td", { class: "mono" }, dash(p.asn)),
    h("td", { class: "state" }, stateBadge(p.state)),
    h("td", { title: p.established_at || "" }, dur(p.uptime_seconds)),
    h("td", { class: "num" }, dash(p.received) + " / " + dash(p.accepted) + " / " + dash(p.advertised)),
    h("td", { class: "mono" }, dash(p.wg_endpoint)),
    h("td", { title: p.last_handshake_at || "" }, p.wg_endpoint === null || p.wg_endpoint === undefined
      ? "-" : p.last_handshake_at ? dur(p.handshake_age_seconds) : "never"),
    h("td", { class: "num" }, bytes(p.rx_bytes) + " / " + bytes(p.tx_bytes)),
    h("td", { class: "path-type" }, pathTypeCell(p.path_type)),
    h("td", { class: "liveness", title: p.liveness && p.liveness.since ? "since " + p.liveness.since : "" },
      livenessCell(p.liveness)))));
}

// ---- Announcements ---------------------------------------------------------------------------------------

async function loadAnnouncements() {
  const anns = await getJSON("api/announcements");
  setRows(document.querySelector("#ann-table tbody"), anns.map((a) => h("tr", { dataset: { name: a.name } },
    h("td", null, h("strong", null, a.name)),
    h("td", null, a.kind),
    h("td", { class: "mono" }, a.prefix),
    h("td", { class: "check" }, dash(a.check)),
    h("td", { class: "health" }, badge(dash(a.state), healthClass(a.state))),
    h("td", null, a.announced ? badge("announced", "ok") : badge("withdrawn", "bad")),
    h("td", { class: "num" }, a.last_latency_seconds === null || a.last_latency_seconds === undefined
      ? "-" : (a.last_latency_seconds * 1000).toFixed(1) + " ms"),
    h("td", { class: "num" }, dash(a.transitions)),
    h("td", { class: "mono" }, dash(a.last_detail)))));
}

// ---- Policies --------------------------------------------------------------------------------------------

function kv(obj) {
  if (obj === null || obj === undefined) return "-";
  if (typeof obj !== "object") return String(obj);
  return Object.entries(obj).filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : String(v))).join("  ");
}

async function loadPolicies() {
  const pol = await getJSON("api/policies");
  const lbl = (t) => h("span", { class: "lbl" }, t);
  document.getElementById("policy-assign").replaceChildren(
    h("div", null, lbl("Import:"), (pol.import_policies || []).join(", ") || "(none)"),
    h("div", null, lbl("Export:"), (pol.export_policies || []).join(", ") || "(none)"));
  const sets = (pol.sets || []).map((s) => h("div", { class: "pset" },
    h("h3", null, s.name),
    h("table", null,
      h("thead", null, h("tr", null, h("th", null, "Rule"), h("th", null, "Match"), h("th", null, "Actions"))),
      h("tbody", null, (s.rules || []).map((r) => h("tr", null,
        h("td", null, r.name), h("td", { class: "mono" }, kv(r.match)), h("td", { class: "mono" }, kv(r.actions))))))));
  document.getElementById("policy-sets").replaceChildren(...(sets.length ? sets : [h("div", { class: "empty" }, "No policy sets.")]));
}

// ---- Frame -----------------------------------------------------------------------------------------------

const loaders = { routing: loadRib, peers: loadPeers, announcements: loadAnnouncements, policies: loadPolicies };

async function loadStatus() {
  const s = await getJSON("api/status");
  const parts = [s.machine, s.asn ? "AS" + s.asn : null, s.router_id ? "id " + s.router_id : null,
    s.version ? "v" + s.version : null].filter(Boolean);
  document.getElementById("machine").textContent = parts.join(" \u00B7 ");
  document.title = (s.machine ? s.machine + " - " : "") + "durantic";
}

async function refresh() {
  if (state.busy) { state.again = true; return; }  // a click during a poll must not be lost
  state.busy = true;
  const err = document.getElementById("error");
  const upd = document.getElementById("updated");
  try {
    await Promise.all([loadStatus(), loaders[state.tab]()]);
    err.hidden = true;
    upd.classList.remove("stale");
    upd.textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    err.hidden = false;
    err.textContent = "Cannot reach the agent: " + e.message;
    upd.classList.add("stale");
  } finally {
    state.busy = false;
    if (state.again) { state.again = false; refresh(); }
  }
}

function selectTab(name) {
  state.tab = name;
  for (const b of document.querySelectorAll("#tabs button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== name;
  if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
  refresh();
}

function init() {
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  let debounce = null;
  document.getElementById("filter").addEventListener("input", (ev) => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { state.filter = ev.target.value.trim(); state.page = 1; refresh(); }, 250);
  });
  document.getElementById("prev").addEventListener("click", () => { if (state.page > 1) { state.page--; refresh(); } });
  document.getElementById("next").addEventListener("click", () => { state.page++; refresh(); });
  document.getElementById("pagesize").addEventListener("change", (ev) => {
    state.pageSize = Number(ev.target.value); state.page = 1; refresh();
  });
  const initial = location.hash.slice(1);
  selectTab(loaders[initial] ? initial : "routing");
  state.timer = setInterval(refresh, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", init);
