// dockyard dashboard: a terminal in a workspace, over a shell session's WebSocket.
// The session is remembered for this tab, so a reload reattaches to the same shell (the
// server replays its recent screen); a dropped connection reattaches by itself. The
// status line says when it was detached and when it was attached again.
"use strict";

const TERMINAL_KEY = "dockyard.terminal";
const terminalState = { term: null, fit: null, socket: null, key: null, session: null,
                        closing: false, attachedOnce: false, retry: null };

function termStatus(text) {
  document.querySelector("#term-status").textContent = text;
}

function now() {
  return new Date().toLocaleTimeString([], { hourCycle: "h23" });
}

function remembered() {
  try { return JSON.parse(sessionStorage.getItem(TERMINAL_KEY) || "null"); } catch (_) {
    return null;
  }
}

async function openTerminal(key) {
  const saved = remembered();
  if (terminalState.key === key && terminalState.socket) return;
  closeTerminal();
  let session = saved && saved.key === key ? saved.session : null;
  if (!session) {
    const path = `/api/v1/workspaces/${encodeURIComponent(key)}/sessions`;
    const opened = await attempt(`opening a terminal in ${key}`,
                                 () => api("POST", path, { kind: "shell", description: "dashboard" }));
    if (!opened) return;
    session = opened.id;
  }
  sessionStorage.setItem(TERMINAL_KEY, JSON.stringify({ key, session }));
  showTerminal(key, session);
}

function resumeTerminal() {
  const saved = remembered();
  if (saved && saved.key && saved.session) showTerminal(saved.key, saved.session);
}

function showTerminal(key, session) {
  Object.assign(terminalState, { key, session, closing: false, attachedOnce: false });
  document.querySelector("#terminal-panel").hidden = false;
  document.querySelector("#term-key").textContent = key;
  if (!terminalState.term) {
    terminalState.term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 });
    terminalState.fit = new FitAddon.FitAddon();
    terminalState.term.loadAddon(terminalState.fit);
    terminalState.term.open(document.querySelector("#term"));
    terminalState.term.onData((data) => send(new TextEncoder().encode(data)));
    terminalState.term.onResize(({ rows, cols }) => send(JSON.stringify({ resize: [rows, cols] })));
  }
  terminalState.fit.fit();
  connect();
}

function send(data) {
  const socket = terminalState.socket;
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(data);
}

function connect() {
  const { term, session } = terminalState;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/v1/sessions/${session}/terminal`);
  socket.binaryType = "arraybuffer";
  terminalState.socket = socket;
  if (!terminalState.attachedOnce) termStatus("attaching…");
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ token: sessionStorage.getItem(TOKEN_KEY),
                                 rows: term.rows, cols: term.cols }));
  });
  socket.addEventListener("message", (event) => {
    if (event.data instanceof ArrayBuffer) { term.write(new Uint8Array(event.data)); return; }
    const message = JSON.parse(event.data);
    if (message.attached) {
      termStatus(attachedText(message.attached.started));
      terminalState.attachedOnce = true;
      term.focus();
    } else if (message.ended) {
      terminalState.closing = true;
      sessionStorage.removeItem(TERMINAL_KEY);
      termStatus(`the shell ended ${now()}`);
    } else if (message.error) {
      terminalState.closing = true;
      if (message.error.code === "not_found") sessionStorage.removeItem(TERMINAL_KEY);
      termStatus("");
      showAlert(`terminal: ${message.error.message}`);
    }
  });
  socket.addEventListener("close", () => {
    if (terminalState.socket !== socket) return;
    terminalState.socket = null;
    if (terminalState.closing) return;
    terminalState.detachedAt = now();
    termStatus(`detached ${terminalState.detachedAt} · reattaching…`);
    terminalState.retry = setTimeout(connect, 1000);
  });
}

function attachedText(started) {
  if (!terminalState.attachedOnce) {  // this page's first attach: new, or after a reload
    return started ? `attached ${now()}` : `reattached ${now()} (the same shell)`;
  }
  const fresh = started ? " · a new shell (the manager restarted)" : " (the same shell)";
  return `detached ${terminalState.detachedAt} · reattached ${now()}${fresh}`;
}

async function endTerminal() {
  const session = terminalState.session;
  closeTerminal();
  if (session) await attempt("closing the terminal", () => api("DELETE", `/api/v1/sessions/${session}`));
}

function closeTerminal() {
  terminalState.closing = true;
  clearTimeout(terminalState.retry);
  if (terminalState.socket) terminalState.socket.close();
  terminalState.socket = null;
  terminalState.key = null;
  sessionStorage.removeItem(TERMINAL_KEY);
  document.querySelector("#terminal-panel").hidden = true;
  if (terminalState.term) terminalState.term.reset();
}

document.querySelector("#term-close").addEventListener("click", endTerminal);
window.addEventListener("resize", () => { if (terminalState.fit && terminalState.socket) terminalState.fit.fit(); });
