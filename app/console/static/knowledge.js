// The Knowledge page: live document status (polling while anything ingests), uploads
// with progress (XHR: fetch reports no upload progress), delete, reindex, hit-testing.
import { api, csrfToken, esc } from "./console.js";

const words = JSON.parse(document.getElementById("words").textContent);
const card = document.getElementById("documents-card");
const kb = card?.dataset.kb;
const busy = new Set(["queued", "parsing", "indexing"]);
let polling = null;

function statusCell(doc) {
  const label = words.status[doc.status] ?? doc.status;
  const error = doc.error ? `<div class="error doc-error">${esc(doc.error)}</div>` : "";
  return `<span class="status status-${esc(doc.status)}" data-status="${esc(doc.status)}">${esc(label)}</span>${error}`;
}

function renderDocuments(docs) {
  const body = document.querySelector("#documents tbody");
  body.innerHTML = docs
    .map(
      (d) => `<tr data-doc-id="${d.id}" data-name="${esc(d.name)}"><td>${esc(d.name)}</td>
        <td>${statusCell(d)}</td><td>${d.chunk_count}</td><td>${d.version}</td>
        <td><button type="button" class="danger" data-delete="${d.id}">${esc(words.delete)}</button></td></tr>`,
    )
    .join("");
}

async function refresh() {
  const docs = await api(`/console/knowledge/kbs/${kb}/documents`);
  renderDocuments(docs);
  const live = docs.some((d) => busy.has(d.status));
  document.getElementById("live-state").textContent = live ? words.live : words.idle;
  return live;
}

function watch() {
  if (polling) return;
  const tick = async () => {
    let live = false;
    try {
      live = await refresh();
    } catch (error) {
      live = true; // a hiccup: try again on the next tick
    }
    polling = live ? setTimeout(tick, 1000) : null;
  };
  polling = setTimeout(tick, 300);
}

function uploadOne(file) {
  // One request per file, so each has its own progress bar and its own error.
  const item = document.createElement("li");
  item.innerHTML = `<span>${esc(file.name)}</span> <progress max="100" value="0"></progress> <span class="upload-state"></span>`;
  item.dataset.file = file.name;
  document.getElementById("upload-progress").append(item);
  const bar = item.querySelector("progress");
  const state = item.querySelector(".upload-state");
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/console/knowledge/kbs/${kb}/documents`);
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    });
    xhr.addEventListener("load", () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) {
        bar.value = 100;
        const dup = data?.results?.[0]?.duplicate;
        state.textContent = dup ? words.duplicate : words.uploaded;
        item.dataset.state = "done";
      } else {
        state.textContent = data?.error?.message ?? xhr.statusText;
        state.className = "upload-state error";
        item.dataset.state = "failed";
      }
      resolve();
    });
    xhr.addEventListener("error", () => {
      state.textContent = "network error";
      state.className = "upload-state error";
      item.dataset.state = "failed";
      resolve();
    });
    const form = new FormData();
    form.append("files", file, file.name);
    xhr.send(form);
  });
}

async function uploadAll(files) {
  await Promise.all([...files].map(uploadOne));
  watch();
}

if (card) {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("file-input");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer?.files?.length) uploadAll(e.dataTransfer.files);
  });
  input.addEventListener("change", () => {
    if (input.files.length) uploadAll(input.files);
    input.value = "";
  });
  document.querySelector("#documents").addEventListener("click", async (e) => {
    const button = e.target.closest("[data-delete]");
    if (!button || !window.confirm(words.confirm_delete)) return;
    await api(`/console/knowledge/kbs/${kb}/documents/${button.dataset.delete}`, { method: "DELETE" });
    await refresh();
  });
  document.getElementById("reindex").addEventListener("click", async () => {
    await api(`/console/knowledge/kbs/${kb}/reindex`, { method: "POST" });
    watch();
  });
  if ([...document.querySelectorAll("#documents [data-status]")].some((s) => busy.has(s.dataset.status))) watch();
}

const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toFixed(3));

document.getElementById("hit-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const out = document.getElementById("hit-result");
  const question = document.getElementById("hit-question").value.trim();
  if (!question) return;
  out.setAttribute("aria-busy", "true");
  try {
    const r = await api("/console/knowledge/hit-test", { method: "POST", json: { question } });
    const route = r.route;
    const hits = r.hits.length
      ? r.hits.map((h) => `<div class="chunk" data-chunk="${esc(h.chunk_id)}">
          <div><strong>${esc(words.score)} ${fmt(h.score)}</strong> · ${esc(words.source)}: <span class="hit-source">${esc(h.source)}</span>
          ${h.heading_path.length ? ` · ${esc(words.heading)}: ${esc(h.heading_path.join(" › "))}` : ""} · ${esc(h.kind)}</div>
          <div class="chunk-text">${esc(h.content)}</div></div>`).join("")
      : `<p class="muted">${esc(words.none)}</p>`;
    out.innerHTML = `<dl class="route" data-route="${esc(route.route)}">
        <dt>${esc(words.route)}</dt><dd class="hit-route">${esc(route.route)}</dd>
        <dt>${esc(words.intent)}</dt><dd>${esc(route.intent ?? "–")}</dd>
        <dt>${esc(words.confidence)}</dt><dd>${fmt(route.confidence)}</dd>
        ${route.reply ? `<dt>${esc(words.reply)}</dt><dd class="chunk-text">${esc(route.reply)}</dd>` : ""}
        <dt>${esc(words.query)}</dt><dd>${esc(r.query)}</dd></dl><div id="hits">${hits}</div>`;
  } catch (error) {
    out.innerHTML = `<p class="error" role="alert">${esc(error.message)}</p>`;
  } finally {
    out.removeAttribute("aria-busy");
  }
});
