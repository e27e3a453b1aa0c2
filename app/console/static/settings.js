// The embed snippet generator: the <script> tag for a host page, and a live preview (a
// blank page on this console's origin with this server's widget tag in it).
const url = document.getElementById("embed-url");
const key = document.getElementById("embed-key");
const lang = document.getElementById("embed-lang");
const snippet = document.getElementById("embed-snippet");
const preview = document.getElementById("embed-preview");

const attr = (value) => value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

function tag() {
  const base = url.value.trim().replace(/\/+$/, "");
  const langAttr = lang.value ? ` data-lang="${attr(lang.value)}"` : "";
  return `<script src="${attr(base)}/widget.js" data-key="${attr(key.value.trim())}"${langAttr} async></` + "script>";
}

let timer = null;
function update() {
  snippet.value = tag();
  clearTimeout(timer);
  timer = setTimeout(() => {
    // A page of this console (a srcdoc frame has no origin the widget could declare).
    const query = new URLSearchParams({ key: key.value.trim(), lang: lang.value });
    preview.src = `/console/settings/preview?${query}`;
  }, 400);
}

for (const input of [url, key, lang]) input.addEventListener("input", update);
update();
