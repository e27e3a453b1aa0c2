// The handoff workspace: the live queue (server-sent events), one open conversation with
// claim / reply / release / close, canned replies, and the customer's records.
// Text from customers and agents is put in with textContent, never as HTML.
import { api } from "./console.js";

const root = document.getElementById("workspace");
const W = JSON.parse(document.getElementById("handoff-words").textContent);
const me = root.dataset.me;
const $ = (id) => document.getElementById(id);
const queueList = $("queue"), chatLog = $("chat-log"), chatStatus = $("chat-status");
const claimBtn = $("claim"), releaseBtn = $("release"), closeBtn = $("close");
const replyText = $("reply-text"), sendBtn = $("send"), errorBox = $("chat-error");
const baseTitle = document.title;
let current = null; // {id, status, assigned_agent, ...}
let unread = 0;
const shown = new Set(); // message ids in the chat log

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

// --- attention: a badge in the title, and an optional sound -------------------------------
const sound = $("sound");
sound.checked = localStorage.getItem("kefu.console.sound") === "on";
sound.addEventListener("change", () => localStorage.setItem("kefu.console.sound", sound.checked ? "on" : "off"));
let audio = null;
function beep() {
  if (!sound.checked) return;
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.value = 0.05;
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.15);
  } catch (e) { /* no audio device: the title badge still shows */ }
}
function setTitle() { document.title = unread ? `(${unread}) ${baseTitle}` : baseTitle; }
function attention(conversationId) {
  if (document.hidden || !current || current.id !== conversationId) {
    unread += 1;
    setTitle();
    const item = queueList.querySelector(`[data-conversation="${CSS.escape(conversationId)}"]`);
    if (item) item.classList.add("unread");
  }
  beep();
}
function seen() { unread = 0; setTitle(); }
window.addEventListener("focus", () => { if (current) seen(); });
document.addEventListener("visibilitychange", () => { if (!document.hidden && current) seen(); });

// --- the queue -----------------------------------------------------------------------------
function renderQueue(items) {
  const unreadIds = new Set([...queueList.querySelectorAll("li.unread")].map((li) => li.dataset.conversation));
  queueList.replaceChildren();
  $("queue-count").textContent = String(items.length);
  if (!items.length) queueList.append(el("li", W["handoff.empty"], "muted empty"));
  for (const item of items) {
    const li = el("li");
    li.dataset.conversation = item.id;
    li.dataset.status = item.status;
    if (unreadIds.has(item.id)) li.classList.add("unread");
    if (current && current.id === item.id) li.setAttribute("aria-current", "true");
    const button = el("button", undefined, "queue-item");
    button.type = "button";
    button.append(el("span", item.last_customer_message || "…", "preview"));
    const who = item.assigned_agent ? `${W["handoff.held_by"]} ${item.assigned_agent}` : W["handoff.waiting"];
    button.append(el("span", `${item.channel} · ${who}`, "meta"));
    li.append(button);
    queueList.append(li);
  }
}
async function refreshQueue() {
  try { renderQueue(await api("/console/handoff/queue")); } catch (e) { /* the next event retries */ }
}
queueList.addEventListener("click", (event) => {
  const li = event.target.closest("li[data-conversation]");
  if (li) openConversation(li.dataset.conversation);
});

// --- one conversation ----------------------------------------------------------------------
function who(m) {
  if (m.role === "agent") return `${W["role.agent"]} ${m.author || ""}`.trim();
  return W[`who.${m.role}`] || m.role;
}
// A customer's images as thumbnails, each a link (so a keyboard reaches it) to the full size.
function thumbnails(conversationId, ids) {
  const box = el("div", undefined, "thumbs");
  ids.forEach((id, i) => {
    const src = `/console/conversations/${encodeURIComponent(conversationId)}/attachments/${encodeURIComponent(id)}`;
    const link = el("a", undefined, "thumb");
    link.href = src;
    link.target = "_blank";
    link.rel = "noopener";
    link.title = W["conv.image_open"];
    const img = el("img");
    img.src = src;
    img.alt = W["conv.image"].replace("{n}", String(i + 1));
    link.append(img);
    box.append(link);
  });
  return box;
}
function showMessage(m, conversationId) {
  if (m.id !== undefined && shown.has(m.id)) return;
  if (m.id !== undefined) shown.add(m.id);
  const li = el("li", undefined, `msg msg-${m.role}`);
  li.append(el("span", who(m), "who"), el("div", m.content, "text"));
  if (m.attachments && m.attachments.length) li.append(thumbnails(conversationId, m.attachments));
  chatLog.append(li);
  li.scrollIntoView({ block: "nearest" });
}
function showError(message) {
  errorBox.textContent = message || "";
  errorBox.hidden = !message;
}
function applyState(conv) {
  current = conv;
  const mine = conv.status === "human" && conv.assigned_agent === me;
  const other = conv.status === "human" && conv.assigned_agent !== me;
  let state = W[`status.${conv.status}`] || conv.status;
  if (mine) state = W["handoff.yours"];
  else if (other) state = `${W["handoff.held_by"]} ${conv.assigned_agent}`;
  chatStatus.textContent = state;
  chatStatus.dataset.status = conv.status;
  claimBtn.disabled = !(conv.status === "awaiting_human" || conv.status === "bot");
  releaseBtn.disabled = !(mine || conv.status === "awaiting_human");
  closeBtn.disabled = conv.status === "closed" || other;
  replyText.disabled = sendBtn.disabled = !mine;
  for (const li of queueList.querySelectorAll("li[data-conversation]")) {
    if (li.dataset.conversation === conv.id) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }
}
async function openConversation(id) {
  showError("");
  let detail;
  try {
    detail = await api(`/console/handoff/conversations/${encodeURIComponent(id)}`);
  } catch (error) {
    showError(error.message);
    return;
  }
  chatLog.replaceChildren();
  shown.clear();
  detail.messages.forEach((m) => showMessage(m, id));
  applyState(detail.conversation);
  queueList.querySelector(`[data-conversation="${CSS.escape(id)}"]`)?.classList.remove("unread");
  seen();
  loadCustomer(id);
}
async function reloadState() {
  if (!current) return;
  try {
    const detail = await api(`/console/handoff/conversations/${encodeURIComponent(current.id)}`);
    detail.messages.forEach((m) => showMessage(m, detail.conversation.id));
    applyState(detail.conversation);
  } catch (error) {
    showError(error.message);
  }
}
async function change(action) {
  if (!current) return;
  showError("");
  try {
    applyState(await api(`/console/handoff/conversations/${encodeURIComponent(current.id)}/${action}`, { method: "POST" }));
    await reloadState();
  } catch (error) {
    showError(error.message);
    await reloadState();
  }
  refreshQueue();
}
claimBtn.addEventListener("click", () => change("claim"));
releaseBtn.addEventListener("click", () => change("release"));
closeBtn.addEventListener("click", () => change("close"));

$("reply-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = replyText.value.trim();
  if (!text || !current) return;
  showError("");
  sendBtn.disabled = true;
  try {
    const sent = await api(`/console/handoff/conversations/${encodeURIComponent(current.id)}/messages`, {
      method: "POST",
      json: { text, client_message_id: crypto.randomUUID() },
    });
    showMessage(sent.message, current.id);
    replyText.value = "";
  } catch (error) {
    showError(error.message);
  } finally {
    sendBtn.disabled = replyText.disabled;
    replyText.focus();
  }
});
replyText.addEventListener("keydown", (event) => {
  // Ctrl+Enter (or Cmd+Enter) sends; Enter alone is a new line.
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("reply-form").requestSubmit();
});

// --- canned replies --------------------------------------------------------------------------
$("canned-insert").addEventListener("click", () => {
  const option = $("canned-select").selectedOptions[0];
  if (!option || !option.value || replyText.disabled) return;
  const at = replyText.selectionStart ?? replyText.value.length;
  replyText.setRangeText(option.dataset.text, at, replyText.selectionEnd ?? at, "end");
  replyText.focus();
});
const cannedForm = $("canned-form");
if (cannedForm) {
  const cannedError = $("canned-error");
  cannedForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(cannedForm);
    try {
      await api("/console/handoff/canned", { method: "POST", json: { title: data.get("title"), text: data.get("text") } });
      location.reload();
    } catch (error) {
      cannedError.textContent = error.message;
      cannedError.hidden = false;
    }
  });
  $("canned-list").addEventListener("click", async (event) => {
    const id = event.target.dataset?.deleteCanned;
    if (!id) return;
    try {
      await api(`/console/handoff/canned/${id}`, { method: "DELETE" });
      location.reload();
    } catch (error) {
      cannedError.textContent = error.message;
      cannedError.hidden = false;
    }
  });
}

// --- the customer's records ------------------------------------------------------------------
function section(title, rows) {
  const box = el("section", undefined, "records");
  box.append(el("h3", title));
  const list = el("ul", undefined, "plain");
  rows.forEach((text) => list.append(el("li", text)));
  box.append(list);
  return box;
}
async function loadCustomer(id) {
  const pane = $("customer");
  pane.replaceChildren();
  let profile;
  try {
    profile = await api(`/console/handoff/conversations/${encodeURIComponent(id)}/customer`);
  } catch (error) {
    pane.append(el("p", error.status === 404 ? W["handoff.no_customer"] : error.message, "muted"));
    return;
  }
  if (!current || current.id !== id) return;
  pane.append(el("p", profile.customer_id, "customer-id"));
  const m = profile.membership;
  if (m) pane.append(section(W["handoff.membership"], [`${m.tier_label} · ${W["handoff.points"]} ${m.points}`]));
  pane.append(section(W["handoff.orders"], profile.orders.map((o) => `${o.id} · ${o.status_label} · ¥${o.amount} · ${o.items.map((i) => i.name).join("、")}`)));
  pane.append(section(W["handoff.bills"], profile.bills.map((b) => `${b.month} · ¥${b.total} · ${b.status_label}`)));
  if (profile.unavailable.length) pane.append(el("p", `${W["handoff.customer_unavailable"]}: ${profile.unavailable.join(", ")}`, "error"));
}

// --- the live feed ---------------------------------------------------------------------------
const feedState = $("feed-state");
const feed = new EventSource("/console/handoff/events");
feed.addEventListener("ready", () => {
  feedState.textContent = W["handoff.live"];
  feedState.dataset.live = "true";
  refreshQueue(); // whatever changed while the feed was down
  if (current) reloadState();
});
feed.addEventListener("signed_out", () => {
  // Signed out everywhere or disabled: stop reconnecting and show the sign-in page.
  feed.close();
  window.location.assign(`/console/login?next=${encodeURIComponent(window.location.pathname)}`);
});
feed.addEventListener("error", () => {
  feedState.textContent = W["handoff.reconnecting"];
  feedState.dataset.live = "false";
});
feed.addEventListener("queue", (event) => {
  const data = JSON.parse(event.data);
  if (data.action === "waiting") attention(data.conversation_id);
  refreshQueue();
  if (current && current.id === data.conversation_id) reloadState();
});
feed.addEventListener("customer_message", (event) => {
  const data = JSON.parse(event.data);
  if (current && current.id === data.conversation_id) {
    showMessage({ id: data.message_id, role: "user", content: data.content, attachments: data.attachments }, data.conversation_id);
  }
  attention(data.conversation_id);
  refreshQueue();
});
