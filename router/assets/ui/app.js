// wagate console: the live parts of the server-rendered pages. Everything goes through
// the public /v1 API with the sign-in cookie; changes carry the CSRF token of the page.
// Text from sessions and contacts only ever reaches the page as textContent.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
const readOnly = document.body.dataset.readOnly === "true";

async function api(method, path, body) {
  const headers = { "x-wagate-csrf": csrf };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    location.assign("/ui/login");
    throw new Error("signed out");
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!response.ok) {
    const message = data?.error?.message || `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return data;
}

const sessionPath = (id) => `/v1/sessions/${encodeURIComponent(id)}`;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.append(cell instanceof Node ? wrapCell(cell) : el("td", cell));
  return tr;
}

function wrapCell(node) {
  if (node.tagName === "TD") return node;
  const td = document.createElement("td");
  td.append(node);
  return td;
}

function fillTable(table, rows, emptyText) {
  const body = table.tBodies[0];
  body.replaceChildren(...rows);
  if (rows.length === 0) {
    const td = el("td", emptyText);
    td.colSpan = table.tHead.rows[0].cells.length;
    const tr = document.createElement("tr");
    tr.append(td);
    body.append(tr);
  }
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

function showError(form, error) {
  const box = form.querySelector(".error");
  if (!box) return;
  box.textContent = error ? error.message : "";
  box.hidden = !error;
}

function announce(text) {
  const live = document.getElementById("live-state");
  if (live) live.textContent = text;
}

function setStatus(node, status) {
  node.textContent = status;
  node.className = `status status-${status}`;
}

// A session's row or page picks up what a status event says.
function applyInfo(container, info) {
  const status = container.querySelector('[data-field="status"]');
  if (status && info.status) setStatus(status, info.status);
  if (container.dataset && "status" in container.dataset && info.status) container.dataset.status = info.status;
  for (const field of ["phone", "pushName", "lastError"]) {
    const node = container.querySelector(`[data-field="${field}"]`);
    if (node && field in info) node.textContent = info[field] ?? "";
  }
  if ("outboxDepth" in info) {
    const node = container.querySelector('[data-field="outbox"]');
    if (node) node.textContent = info.outboxDepth ?? "—";
  }
}

// Session actions shared by the table and the session page.
async function sessionAction(id, action) {
  if (action === "restart") return api("POST", `${sessionPath(id)}/restart`);
  if (action === "logout") return api("POST", `${sessionPath(id)}/logout`);
  if (action === "delete") {
    const dialog = document.getElementById("delete-dialog");
    dialog.querySelector('[data-field="id"]').textContent = id;
    dialog.querySelector("#delete-purge").checked = false;
    dialog.showModal();
    const choice = await new Promise((resolve) =>
      dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true }));
    if (choice !== "delete") return null;
    const purge = dialog.querySelector("#delete-purge").checked;
    return api("DELETE", `${sessionPath(id)}?purge=${purge}`);
  }
  return null;
}

function watch(path, handlers) {
  const source = new EventSource(path);
  source.onopen = () => announce("Live");
  source.onerror = () => announce("Reconnecting…");
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => {
      try { handler(JSON.parse(event.data)); } catch (e) { console.error(e); }
    });
  }
  return source;
}

// ---- Sessions page -------------------------------------------------------------------

function sessionsPage() {
  const table = document.getElementById("sessions");
  const body = table.tBodies[0];
  const search = document.getElementById("q");
  const statusFilter = document.getElementById("status-filter");
  const count = document.getElementById("session-count");

  const rows = () => [...body.querySelectorAll("tr[data-session]")];
  const findRow = (id) => rows().find((r) => r.dataset.session === id);

  function applyFilter() {
    const needle = search.value.trim().toLowerCase();
    const status = statusFilter.value;
    let shown = 0;
    for (const tr of rows()) {
      const visible = (!needle || tr.dataset.search.includes(needle)) &&
        (!status || tr.dataset.status === status);
      tr.hidden = !visible;
      if (visible) shown += 1;
    }
    count.textContent = `${shown} of ${rows().length}`;
  }
  for (const change of ["input", "change", "search"]) search.addEventListener(change, applyFilter);
  statusFilter.addEventListener("change", applyFilter);
  document.querySelector("form.filters").addEventListener("submit", (e) => {
    e.preventDefault();
    applyFilter();
  });

  function addRow(info) {
    // Two events of a new session may both have asked for it.
    const known = findRow(info.sessionId);
    if (known) {
      applyInfo(known, info);
      return;
    }
    const tr = document.createElement("tr");
    tr.dataset.session = info.sessionId;
    const labels = Object.entries(info.labels || {}).map(([k, v]) => `${k}=${v}`);
    tr.dataset.search = [info.sessionId, info.phone || "", info.pushName || "", ...labels]
      .join(" ").toLowerCase();
    tr.dataset.status = info.status;
    const link = el("a", info.sessionId);
    link.href = `/ui/sessions/${encodeURIComponent(info.sessionId)}`;
    const status = el("span", info.status);
    setStatus(status, info.status);
    status.dataset.field = "status";
    const cells = [link, status];
    for (const field of ["phone", "pushName", "lastError"]) {
      const td = el("td", info[field] || "");
      td.dataset.field = field;
      cells.push(td);
    }
    const outbox = el("td", info.outboxDepth ?? "—");
    outbox.dataset.field = "outbox";
    cells.push(outbox);
    const labelCell = document.createElement("td");
    for (const label of labels) labelCell.append(el("span", label, "label"), " ");
    cells.push(labelCell);
    for (const cell of cells) tr.append(wrapCell(cell));
    if (!readOnly) {
      const actions = el("td", null, "actions");
      for (const [action, text] of [["restart", "Restart"], ["logout", "Log out"], ["delete", "Delete"]]) {
        const button = el("button", text, action === "delete" ? "danger" : "");
        button.type = "button";
        button.dataset.action = action;
        button.setAttribute("aria-label", `${text} ${info.sessionId}`);
        actions.append(button, " ");
      }
      tr.append(actions);
    }
    body.append(tr);
    document.getElementById("no-sessions")?.remove();
    applyFilter();
  }

  body.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const tr = button.closest("tr");
    const id = tr.dataset.session;
    button.disabled = true;
    try {
      const result = await sessionAction(id, button.dataset.action);
      if (button.dataset.action === "delete" && result) {
        tr.remove();
        applyFilter();
        announce(`Deleted ${id}`);
      } else if (result) {
        applyInfo(tr, result.sessionId ? result : {});
        announce(`${button.textContent}: ${id}`);
      }
    } catch (e) {
      announce(`${button.textContent} ${id} failed: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  });

  const create = document.getElementById("create-form");
  create?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(create);
    const request = { sessionId: form.get("sessionId").trim() };
    const webhook = form.get("webhookUrl").trim();
    if (webhook) request.webhook = { url: webhook };
    const labels = form.get("labels").trim();
    if (labels) {
      request.labels = {};
      for (const pair of labels.split(",")) {
        const [k, ...v] = pair.split("=");
        if (k.trim()) request.labels[k.trim()] = v.join("=").trim();
      }
    }
    showError(create, null);
    try {
      const info = await api("POST", "/v1/sessions", request);
      location.assign(`/ui/sessions/${encodeURIComponent(info.sessionId)}`);
    } catch (e) {
      showError(create, e);
    }
  });

  watch("/v1/events", {
    status: (event) => {
      const tr = findRow(event.sessionId);
      if (tr) {
        applyInfo(tr, event.data);
        applyFilter();
      } else if (event.data && event.data.status) {
        api("GET", sessionPath(event.sessionId)).then(addRow).catch(() => {});
      }
    },
  });
  applyFilter();
}

// ---- Session page --------------------------------------------------------------------

function sessionPage() {
  const id = document.body.dataset.session;
  const base = sessionPath(id);
  const main = document.getElementById("main");
  let oldest = null;
  let chat = "";

  // Linking: the QR follows `qr` events and goes away once connected.
  const qr = document.getElementById("qr");
  const waiting = document.getElementById("qr-waiting");
  const linkPanel = document.getElementById("link-panel");
  function showQr() {
    if (!qr) return;
    const image = new Image();
    image.onload = () => { qr.src = image.src; qr.hidden = false; waiting.hidden = true; };
    image.onerror = () => { qr.hidden = true; waiting.hidden = false; };
    image.src = `${base}/qr?format=svg&t=${Date.now()}`;
  }
  function onStatus(info) {
    applyInfo(main, info);
    if (info.status === "connected" && linkPanel) {
      linkPanel.hidden = true;
      announce("Connected");
    } else if (linkPanel && info.status === "qr") {
      linkPanel.hidden = false;
      showQr();
    }
  }

  document.getElementById("pair-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    showError(form, null);
    try {
      const result = await api("POST", `${base}/pair-code`, { phone: form.phone.value });
      document.getElementById("pair-code").textContent = result.code;
    } catch (e) {
      showError(form, e);
    }
  });
  document.getElementById("qr-link-button")?.addEventListener("click", async () => {
    const out = document.getElementById("qr-link");
    try {
      const result = await api("POST", `${base}/qr-link`);
      const link = el("a", result.url);
      link.href = result.url;
      link.rel = "noreferrer";
      out.replaceChildren("Valid until ", when(result.expiresAt), ": ", link);
    } catch (e) {
      out.textContent = e.message;
    }
  });

  // Messages, newest first, with "older" paging.
  const messages = document.getElementById("messages");
  const older = document.getElementById("older");
  function messageRow(m) {
    const direction = m.fromMe ? el("span", "sent", "out") : el("span", "received", "in");
    const ticks = m.fromMe ? (m.status || "from phone") : (m.read ? "read" : "");
    const tr = row([when(m.at), direction, m.chat, m.kind, m.preview || "", ticks]);
    tr.dataset.message = m.id;
    return tr;
  }
  async function loadMessages(append) {
    const query = new URLSearchParams({ limit: "50" });
    if (chat) query.set("chat", chat);
    if (append && oldest) query.set("before", oldest);
    try {
      const page = await api("GET", `${base}/messages?${query}`);
      const rows = page.messages.map(messageRow);
      if (append) messages.tBodies[0].append(...rows);
      else fillTable(messages, rows, "No messages yet.");
      oldest = page.nextBefore || null;
      older.hidden = !oldest;
    } catch (e) {
      fillTable(messages, [], `Messages unavailable: ${e.message}`);
    }
  }
  older.addEventListener("click", () => loadMessages(true));
  document.getElementById("chat-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    chat = event.target.chat.value.trim();
    loadMessages(false);
  });

  const send = document.getElementById("send-form");
  send?.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(send, null);
    const to = send.to.value.trim();
    const text = send.text.value;
    const file = send.file.files[0];
    const request = { to };
    try {
      if (file) {
        const data = await fileBase64(file);
        const type = mediaType(file.type);
        request.media = { type, data, mimeType: file.type || "application/octet-stream", fileName: file.name };
        if (text) request.media.caption = text;
      } else {
        request.text = text;
      }
      await api("POST", `${base}/messages?async=true`, request);
      send.text.value = "";
      send.file.value = "";
      announce("Message queued");
      loadMessages(false);
    } catch (e) {
      showError(send, e);
    }
  });

  // Webhook and its queues.
  async function loadDeliveries() {
    try {
      const pending = await api("GET", `${base}/webhook/deliveries`);
      fillTable(document.getElementById("deliveries"), pending.deliveries.map((d) =>
        row([when(d.createdAt), d.event, d.attempts, when(d.nextAttemptAt), d.lastError || ""])),
        "Nothing waiting.");
      const dead = await api("GET", `${base}/webhook/dead-letters`);
      fillTable(document.getElementById("dead-letters"), dead.deadLetters.map((d) =>
        row([when(d.createdAt), d.event, d.attempts, when(d.deadAt), d.lastError || ""])),
        "No dead letters.");
    } catch (e) {
      announce(`Webhook queues unavailable: ${e.message}`);
    }
  }
  document.getElementById("replay")?.addEventListener("click", async () => {
    const out = document.getElementById("replay-result");
    try {
      const result = await api("POST", `${base}/webhook/dead-letters/replay`);
      out.textContent = `${result.replayed} replayed`;
      loadDeliveries();
    } catch (e) {
      out.textContent = e.message;
    }
  });
  const webhook = document.getElementById("webhook-form");
  webhook?.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(webhook, null);
    const request = { url: webhook.url.value.trim() };
    const events = webhook.events.value.split(",").map((e) => e.trim()).filter(Boolean);
    if (events.length) request.events = events;
    if (webhook.secret.value) request.secret = webhook.secret.value;
    try {
      await api("PUT", `${base}/webhook`, request);
      webhook.secret.value = "";
      announce("Webhook saved");
    } catch (e) {
      showError(webhook, e);
    }
  });
  document.getElementById("webhook-remove")?.addEventListener("click", async () => {
    showError(webhook, null);
    try {
      await api("DELETE", `${base}/webhook`);
      webhook.url.value = "";
      webhook.events.value = "";
      announce("Webhook removed");
    } catch (e) {
      showError(webhook, e);
    }
  });

  const settings = document.getElementById("settings-form");
  settings.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(settings, null);
    const request = {};
    for (const name of ["rejectCalls", "autoRead", "alwaysOnline", "ignoreGroups", "ignoreStatusBroadcast"]) {
      request[name] = settings.elements[name].checked;
    }
    const message = settings.elements.rejectCallsMessage.value.trim();
    if (message) request.rejectCallsMessage = message;
    try {
      await api("PUT", `${base}/settings`, request);
      announce("Settings saved");
    } catch (e) {
      showError(settings, e);
    }
  });

  // Overview actions.
  document.querySelector(".buttons[data-session]")?.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    try {
      const result = await sessionAction(id, button.dataset.action);
      if (button.dataset.action === "delete" && result) location.assign("/ui/sessions");
      else if (result?.sessionId) onStatus(result);
    } catch (e) {
      announce(`${button.textContent} failed: ${e.message}`);
    }
  });

  async function loadStats() {
    try {
      const stats = await api("GET", `${base}/stats`);
      for (const chart of document.querySelectorAll(".chart[data-series]")) {
        drawBars(chart, stats.hours.map((h) => ({ at: h.hour, value: h[chart.dataset.series] })));
      }
      const depth = document.getElementById("outbox-depth");
      if (depth) depth.textContent = stats.outboxDepth;
    } catch (e) {
      announce(`Stats unavailable: ${e.message}`);
    }
  }

  async function loadHost() {
    if (document.body.dataset.cluster !== "true") return;
    try {
      const host = await api("GET", `${base}/host`);
      for (const field of ["resource", "phase", "pod"]) {
        document.querySelector(`[data-host="${field}"]`).textContent = host[field] || "—";
      }
      fillTable(document.getElementById("conditions"), host.conditions.map((c) =>
        row([c.type, c.status, c.reason, c.message, when(c.lastTransitionTime)])), "No conditions yet.");
      fillTable(document.getElementById("kube-events"), host.events.map((e) =>
        row([when(e.at), e.type, e.reason, e.note])), "No events.");
    } catch (e) {
      announce(`Kubernetes details unavailable: ${e.message}`);
    }
  }

  let refresh = null;
  const refreshSoon = () => {
    clearTimeout(refresh);
    refresh = setTimeout(() => { loadMessages(false); loadStats(); loadDeliveries(); }, 300);
  };
  watch(`${base}/events`, {
    status: (event) => { onStatus(event.data); loadHost(); },
    qr: () => showQr(),
    "message.received": refreshSoon,
    "message.status": refreshSoon,
  });
  if (linkPanel && !linkPanel.hidden) showQr();
  loadMessages(false);
  loadStats();
  loadDeliveries();
  loadHost();
}

function fileBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(new Error("cannot read the file"));
    reader.readAsDataURL(file);
  });
}

function mediaType(mime) {
  if (mime.startsWith("image/")) return "image";
  if (mime.startsWith("video/")) return "video";
  if (mime.startsWith("audio/")) return "audio";
  return "document";
}

// A bar per hour, drawn as SVG (no chart library needed for 24 bars); the totals are the
// accessible name.
function drawBars(container, points) {
  const ns = "http://www.w3.org/2000/svg";
  const width = 240, height = 80, gap = 2;
  const max = Math.max(1, ...points.map((p) => p.value));
  const total = points.reduce((sum, p) => sum + p.value, 0);
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + 12}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${total} in the last 24 hours, at most ${max === 1 && total === 0 ? 0 : max} in one hour`);
  const barWidth = width / points.length - gap;
  points.forEach((p, i) => {
    const h = Math.round((p.value / max) * height);
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("class", "bar");
    bar.setAttribute("x", String(i * (barWidth + gap)));
    bar.setAttribute("y", String(height - h));
    bar.setAttribute("width", String(barWidth));
    bar.setAttribute("height", String(Math.max(h, p.value ? 1 : 0)));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${new Date(p.at).getHours()}:00 — ${p.value}`;
    bar.append(title);
    svg.append(bar);
  });
  const axis = document.createElementNS(ns, "line");
  axis.setAttribute("class", "axis");
  axis.setAttribute("x1", "0"); axis.setAttribute("x2", String(width));
  axis.setAttribute("y1", String(height)); axis.setAttribute("y2", String(height));
  svg.append(axis);
  const caption = el("p", `${total} total`, "tick");
  container.replaceChildren(svg, caption);
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.body.dataset.page === "sessions") sessionsPage();
  if (document.body.dataset.page === "session") sessionPage();
});
