// dockyard dashboard: plain JavaScript, no build step, no external requests.
"use strict";

const TOKEN_KEY = "dockyard.token";
const $ = (sel) => document.querySelector(sel);
const state = { admin: false, owner: null, workspaces: [], limit: 0, lastEvent: null,
                streamAbort: null, refreshTimer: null };

// -- talking to the API ---------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    const error = (data && data.error) || {};
    if (response.status === 401) signOut(error.message || "the token was refused");
    throw new ApiError(response.status, error.code || "http_error",
                       error.message || `${method} ${path}: HTTP ${response.status}`);
  }
  return data;
}

function showAlert(message, kind) {
  const box = $("#alert");
  box.textContent = message;
  box.className = kind === "info" ? "alert info" : "alert";
  box.hidden = !message;
}

async function attempt(what, action) {
  try {
    showAlert("");
    return await action();
  } catch (error) {
    showAlert(`${what}: ${error.message}`);
    return null;
  }
}

// -- formatting -------------------------------------------------------------------------------

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const sign = seconds < 0 ? "-" : "";
  let s = Math.abs(Math.round(seconds));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${sign}${d}d${h}h`;
  if (h) return `${sign}${h}h${String(m).padStart(2, "0")}m`;
  if (m) return `${sign}${m}m${String(s).padStart(2, "0")}s`;
  return `${sign}${s}s`;
}

function clock(iso) {
  if (!iso) return "–";
  const when = new Date(iso);
  return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit",
                                      hourCycle: "h23" });
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(n < 10 && i ? 1 : 0)}${units[i]}`;
}

// -- rendering --------------------------------------------------------------------------------

function rowFor(ws) {
  const existing = document.querySelector(`tr[data-key="${CSS.escape(ws.key)}"]`);
  if (existing) return existing;
  const row = $("#row").content.firstElementChild.cloneNode(true);
  row.dataset.key = ws.key;
  row.querySelector(".key").textContent = ws.key;
  row.querySelector(".key").title = ws.key;
  for (const button of row.querySelectorAll("button[data-act]")) {
    button.addEventListener("click", () => act(button.dataset.act, row.dataset.key, row));
  }
  return row;
}

function render() {
  const body = $("#workspaces tbody");
  const keys = new Set(state.workspaces.map((ws) => ws.key));
  for (const row of [...body.rows]) if (!keys.has(row.dataset.key)) row.remove();
  for (const ws of state.workspaces) {
    const row = rowFor(ws);
    const set = (cls, text) => {
      const cell = row.querySelector(cls);
      cell.textContent = text;
      cell.title = text;
    };
    set(".owner", ws.owner);
    const pill = row.querySelector(".state");
    pill.textContent = ws.state;
    pill.className = `state pill state-${ws.state}`;
    set(".container", ws.name);
    set(".image", ws.image);
    set(".deadline", clock(ws.deadline));
    row.querySelector(".deadline").dataset.iso = ws.deadline || "";
    set(".sessions", `${ws.sessions.active}/${ws.sessions.total}`);
    row.querySelector(".keepflag").hidden = !ws.keep;
    set(".checkpoint", ws.checkpoint || "–");
    row.dataset.deadline = ws.deadline || "";
    row.dataset.activity = ws.last_activity_at;
    row.dataset.state = ws.state;
    const live = ws.state === "running" || ws.state === "warned";
    const label = (verb) => `${verb} workspace ${ws.key}`;
    const extend = row.querySelector('[data-act="extend"]');
    extend.disabled = !live;
    extend.setAttribute("aria-label", label("Extend"));
    row.querySelector(".amount").disabled = !live;
    const terminal = row.querySelector('[data-act="terminal"]');
    terminal.disabled = !live;
    terminal.setAttribute("aria-label", label("Open a terminal in"));
    const park = row.querySelector('[data-act="park"]');
    park.disabled = !["running", "warned", "stopped", "failed", "save_failed"].includes(ws.state);
    park.setAttribute("aria-label", label("Park"));
    const keep = row.querySelector('[data-act="keep"]');
    keep.textContent = ws.keep ? "Unkeep" : "Keep";
    keep.setAttribute("aria-label", label(ws.keep ? "Unkeep" : "Keep"));
    row.querySelector('[data-act="remove"]').setAttribute("aria-label", label("Remove"));
    if (!live) { set(".cpu", "–"); set(".mem", "–"); set(".disk", "–"); }
    body.appendChild(row);
  }
  $("#empty").hidden = state.workspaces.length > 0;
  tick();
  renderSummary();
  renderPending();
}

function tick() {
  const now = Date.now();
  for (const row of $("#workspaces tbody").rows) {
    const live = row.dataset.state === "running" || row.dataset.state === "warned";
    const idle = live && row.dataset.activity ? (now - Date.parse(row.dataset.activity)) / 1000 : null;
    row.querySelector(".idle").textContent = duration(idle);
    const left = row.querySelector(".left");
    if (live && row.dataset.deadline) {
      const seconds = (Date.parse(row.dataset.deadline) - now) / 1000;
      left.textContent = duration(seconds);
      left.className = seconds < 0 ? "left over" : seconds < 300 ? "left soon" : "left";
    } else {
      left.textContent = "–";
      left.className = "left";
    }
  }
}

function renderSummary() {
  const count = (s) => state.workspaces.filter((ws) => ws.state === s).length;
  $("#n-running").textContent = count("running");
  $("#n-warned").textContent = count("warned");
  $("#n-parked").textContent = count("parked");
  $("#n-failed").textContent = count("failed") + count("save_failed");
  const live = {};
  for (const ws of state.workspaces) {
    if (["running", "warned", "creating", "restoring"].includes(ws.state)) {
      live[ws.owner] = (live[ws.owner] || 0) + 1;
    }
  }
  const owners = $("#owners");
  owners.replaceChildren(...Object.keys(live).sort().map((owner) => {
    const li = document.createElement("li");
    li.textContent = `${owner}: ${live[owner]} / ${state.limit}`;
    return li;
  }));
}

function renderPending() {
  const items = state.workspaces.filter((ws) => ws.pending)
    .sort((a, b) => Date.parse(a.pending.at || 0) - Date.parse(b.pending.at || 0));
  const list = $("#pending");
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "Nothing planned.";
    list.replaceChildren(li);
    return;
  }
  list.replaceChildren(...items.map((ws) => {
    const li = document.createElement("li");
    const p = ws.pending;
    const when = p.in_s > 0 ? `at ${clock(p.at)}` : "now";
    li.textContent = `${p.action} ${ws.key} ${when} — ${p.reason}${p.detail ? ": " + p.detail : ""}`;
    return li;
  }));
}

function addEvent(event) {
  const li = document.createElement("li");
  const time = document.createElement("time");
  time.dateTime = event.at;
  time.textContent = clock(event.at);
  const text = document.createElement("span");
  const full = event.data && event.data.percent != null ? `${event.data.percent}% full` : null;
  const detail = event.data && (event.data.reason || event.data.detail || event.data.outcome || full);
  text.textContent = `${event.type} ${event.workspace || ""}${detail ? " (" + detail + ")" : ""}`;
  li.append(time, text);
  li.dataset.type = event.type;
  const list = $("#events");
  list.prepend(li);
  while (list.children.length > 100) list.lastElementChild.remove();
}

// -- loading ----------------------------------------------------------------------------------

async function refresh() {
  const data = await attempt("loading workspaces", () => api("GET", "/api/v1/workspaces"));
  if (!data) return;
  state.workspaces = data.workspaces;
  state.limit = data.max_workspaces_per_owner;
  if (!data.engine_ok) showAlert("The engine does not answer: container status is unknown.");
  render();
  if (state.admin) refreshReconciler();
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refresh, 150);
}

async function refreshResources() {
  for (const ws of state.workspaces) {
    if (ws.state !== "running" && ws.state !== "warned") continue;
    try {
      const use = await api("GET", `/api/v1/workspaces/${encodeURIComponent(ws.key)}/resources`);
      const row = document.querySelector(`tr[data-key="${CSS.escape(ws.key)}"]`);
      if (!row) continue;
      row.querySelector(".cpu").textContent =
        use.cpu_percent === null ? "–" : `${use.cpu_percent}%`;
      const mem = row.querySelector(".mem");
      mem.textContent = bytes(use.memory_bytes);
      mem.title = `${bytes(use.memory_bytes)} of ${bytes(use.memory_limit)}`;
      const disk = row.querySelector(".disk");
      const lower = use.disk_complete === false ? ">" : "";  // cut short: a lower bound
      disk.textContent = use.disk_bytes === null ? "–" : lower + bytes(use.disk_bytes);
      const full = use.disk_volume_percent === null ? "" : ` (${use.disk_volume_percent}% full)`;
      const cap = use.disk_limit_bytes === null ? "" : ` of ${bytes(use.disk_limit_bytes)}${full}`;
      disk.title = `volume ${bytes(use.disk_volume_bytes)}${cap}, writable layer ${bytes(use.disk_layer_bytes)}`;
      disk.classList.toggle("full", (use.disk_volume_percent || 0) >= 90);
    } catch (_) { /* best effort: a workspace may have gone meanwhile */ }
  }
}

function showPool(pool) {
  const wanted = Object.values(pool.wanted).reduce((a, b) => a + b, 0);
  $("#pool").hidden = wanted === 0 && pool.ready.length === 0;
  $("#pool-ready").textContent = String(pool.ready.length);
  $("#pool-of").textContent = `of ${wanted} ready`;
  $("#pool").title = pool.ready.map((m) => `${m.name} (${m.image})`).join("\n")
    || "containers started ahead, for new workspaces";
}

async function refreshReconciler() {
  try {
    const stats = await api("GET", "/api/v1/stats");
    const running = stats.reconciler.running;
    $("#reconciler").hidden = false;
    $("#rec-state").textContent = running ? "running" : "stopped";
    $("#rec-state").className = running ? "pill state-running" : "pill state-stopped";
    $("#rec-toggle").textContent = running ? "Stop" : "Start";
    $("#rec-toggle").setAttribute("aria-label", running ? "Stop the reconciler" : "Start the reconciler");
    showPool(stats.pool);
  } catch (_) { $("#reconciler").hidden = true; }
}

async function follow() {
  if (state.streamAbort) state.streamAbort.abort();
  const abort = new AbortController();
  state.streamAbort = abort;
  const headers = { Accept: "text/event-stream",
                    Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` };
  if (state.lastEvent) headers["Last-Event-ID"] = String(state.lastEvent);
  try {
    const response = await fetch("/api/v1/events", { headers, signal: abort.signal });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    $("#live").textContent = "live";
    $("#live").classList.add("on");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: "))
          .map((l) => l.slice(6)).join("\n");
        if (!data) continue;
        const event = JSON.parse(data);
        state.lastEvent = event.id;
        addEvent(event);
        scheduleRefresh();
      }
    }
  } catch (_) {
    if (abort.signal.aborted) return;
  }
  $("#live").textContent = "offline";
  $("#live").classList.remove("on");
  if (!abort.signal.aborted && sessionStorage.getItem(TOKEN_KEY)) setTimeout(follow, 2000);
}

// -- actions ----------------------------------------------------------------------------------

function confirmRemove(key) {
  return new Promise((resolve) => {
    const dialog = $("#confirm");
    $("#confirm-text").textContent =
      `Remove workspace ${key}? Its container goes now; its volume and checkpoints stay ` +
      "until gc or rm --purge.";
    $("#confirm-ok").setAttribute("aria-label", `Remove workspace ${key}`);
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

async function act(action, key, row) {
  const path = `/api/v1/workspaces/${encodeURIComponent(key)}`;
  const ws = state.workspaces.find((w) => w.key === key);
  let done = null;
  if (action === "extend") {
    const by = row.querySelector(".amount").value;
    done = await attempt(`extending ${key}`, () => api("POST", `${path}/extend`, { by }));
  } else if (action === "terminal") {
    openTerminal(key);
    return;
  } else if (action === "park") {
    done = await attempt(`parking ${key}`, () => api("POST", `${path}/park`));
  } else if (action === "keep") {
    const verb = ws && ws.keep ? "unkeep" : "keep";
    done = await attempt(`${verb} ${key}`, () => api("POST", `${path}/${verb}`));
  } else if (action === "remove") {
    if (!(await confirmRemove(key))) return;
    done = await attempt(`removing ${key}`, () => api("DELETE", path));
  }
  if (done) scheduleRefresh();
}

// -- signing in -------------------------------------------------------------------------------

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  closeTerminal();
  if (state.streamAbort) state.streamAbort.abort();
  $("#main").hidden = true;
  $("#logout").hidden = true;
  $("#login").hidden = false;
  $("#who").textContent = "";
  if (reason) showAlert(`Signed out: ${reason}`);
}

async function start() {
  let me;
  try {
    me = await api("GET", "/api/v1/whoami");
  } catch (error) {
    if (error.status !== 401) showAlert(`signing in: ${error.message}`);
    return;
  }
  state.admin = me.admin;
  state.owner = me.owner;
  $("#who").textContent = me.admin ? "admin" : `owner ${me.owner}`;
  $("#login").hidden = true;
  $("#main").hidden = false;
  $("#logout").hidden = false;
  await refresh();
  refreshResources();
  follow();
  resumeTerminal();
}

$("#login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
  $("#token").value = "";
  start();
});
$("#logout").addEventListener("click", () => signOut(""));
$("#rec-toggle").addEventListener("click", async () => {
  const verb = $("#rec-toggle").textContent === "Stop" ? "stop" : "start";
  await attempt(`${verb} the reconciler`, () => api("POST", `/api/v1/reconciler/${verb}`));
  refreshReconciler();
});

setInterval(tick, 1000);
setInterval(() => { if (!$("#main").hidden) refresh(); }, 30000);
setInterval(() => { if (!$("#main").hidden) refreshResources(); }, 15000);

if (sessionStorage.getItem(TOKEN_KEY)) start(); else $("#login").hidden = false;
