/* kefu chat frame: runs on kefu's origin inside the host page's iframe. No innerHTML for
 * anything that came from the model, documents or agents: text is put in with DOM APIs. */
(function () {
  "use strict";
  var root = document.documentElement;
  var cfg = {
    key: root.dataset.key || "",
    origin: root.dataset.origin || "",
    lang: root.dataset.lang === "en" ? "en" : "zh",
    bot: root.dataset.bot || "kefu",
    company: root.dataset.company || "",
    max: parseInt(root.dataset.max, 10) || 4000,
    visitorToken: root.dataset.visitorToken || ""
  };
  var STR = {
    zh: {
      title: "在线客服", close: "关闭对话窗口", send: "发送", input: "输入您的问题",
      placeholder: "输入您的问题…", hint: "Enter 发送，Shift+Enter 换行", sources: "来源", you: "我",
      agent: "人工客服", typing: "正在输入…", error: "出错了，请稍后再试。",
      retrying: "网络中断，正在重试…", awaiting: "正在为您转接人工客服，请稍候…",
      human: "人工客服已接入", bot: "已回到智能客服", closed: "本次会话已结束",
      tooLong: "消息太长了（最多 {n} 字）", welcome: "您好，我是{bot}，有什么可以帮您？",
      cite: "查看来源 {n}", page: "第 {n} 页", tool: "正在为您查询…",
      helpful: "有帮助", unhelpful: "没有帮助", thanks: "感谢您的反馈",
      comment: "哪里不满意？（选填）", commentSend: "提交",
      attach: "发送图片（也可粘贴或拖入）", image: "图片", remove: "移除图片",
      imageTooLarge: "图片太大了，请换一张小一些的图片", notImage: "只能发送图片（JPEG、PNG、GIF、WebP）",
      uploading: "图片还在上传，请稍候…", tooManyImages: "一次最多发送 {n} 张图片"
    },
    en: {
      title: "Customer support", close: "Close chat", send: "Send", input: "Type your question",
      placeholder: "Type your question…", hint: "Enter to send, Shift+Enter for a new line",
      sources: "Sources", you: "You", agent: "Support agent", typing: "Typing…",
      error: "Something went wrong, please try again.", retrying: "Connection lost, retrying…",
      awaiting: "Connecting you to a support agent…", human: "A support agent has joined",
      bot: "You are back with the assistant", closed: "This conversation has ended",
      tooLong: "That message is too long (at most {n} characters)",
      welcome: "Hi, I'm {bot}. How can I help?", cite: "Show source {n}", page: "page {n}",
      tool: "Looking that up…", helpful: "Helpful", unhelpful: "Not helpful",
      thanks: "Thanks for your feedback", comment: "What was wrong? (optional)",
      commentSend: "Send", attach: "Attach an image (or paste or drop one)", image: "Image",
      remove: "Remove image", imageTooLarge: "That image is too large, please pick a smaller one",
      notImage: "Only images can be sent (JPEG, PNG, GIF, WebP)",
      uploading: "The image is still uploading…", tooManyImages: "At most {n} images at once"
    }
  }[cfg.lang];

  function fmt(s, vals) {
    return s.replace(/\{(\w+)\}/g, function (_, k) { return vals[k] != null ? vals[k] : ""; });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // --- storage: the conversation survives reloads (per key); memory if storage is blocked
  var memory = {};
  var prefix = "kefu." + cfg.key.slice(0, 13) + ".";
  function load(name) {
    try { return localStorage.getItem(prefix + name); } catch (e) { return memory[name] || null; }
  }
  function store(name, value) {
    try {
      if (value) localStorage.setItem(prefix + name, value);
      else localStorage.removeItem(prefix + name);
    } catch (e) { memory[name] = value; }
  }
  var conversationId = load("conversation");
  // Issued by the server (in this page, or on a response): anonymous conversations are shown
  // to their visitor only, and a visitor id nobody signed could be anyone's.
  var visitorToken = load("visitor-token") || cfg.visitorToken || null;
  store("visitor-token", visitorToken);
  var identity = null;
  // The host page hands over the visitor's identity right after the frame loads; a message
  // sent before that would go out anonymous. A frame opened on its own stops waiting.
  var markInit;
  var initialised = new Promise(function (resolve) { markInit = resolve; setTimeout(resolve, 1500); });

  function setConversation(id) {
    conversationId = id || null;
    store("conversation", conversationId);
  }
  function newVisitor() { visitorToken = null; store("visitor-token", null); }
  function keepVisitor(response) {
    var token = response.headers.get("X-Kefu-Visitor-Token");
    if (token && token !== visitorToken) { visitorToken = token; store("visitor-token", token); }
  }
  // Another customer (or nobody) is signed in now: forget the conversation and what it showed.
  function startFresh() {
    setConversation(null);
    disconnectEvents();
    newVisitor();
    log.textContent = "";
    rendered = {};
    welcome = null;
    lastStatus = null;
    setStatus("");
    greet();
  }

  // --- DOM
  var log = document.getElementById("kefu-log");
  var form = document.getElementById("kefu-form");
  var input = document.getElementById("kefu-input");
  var sendBtn = document.getElementById("kefu-send");
  var statusLine = document.getElementById("kefu-status");
  // Streamed answers re-render their bubble on every piece, so the log is not a live region
  // (a screen reader would read each piece again); finished messages are read out here, once.
  var announcer = document.getElementById("kefu-announce");
  function announce(text) {
    announcer.textContent = "";  // the same words twice in a row are still read twice
    setTimeout(function () { announcer.textContent = text; }, 100);
  }
  document.getElementById("kefu-title").textContent = cfg.company ? STR.title + " · " + cfg.company : STR.title;
  var closeBtn = document.getElementById("kefu-close");
  closeBtn.setAttribute("aria-label", STR.close);
  closeBtn.title = STR.close;
  document.getElementById("kefu-input-label").textContent = STR.input;
  input.placeholder = STR.placeholder;
  input.title = STR.hint;
  input.maxLength = cfg.max;
  sendBtn.textContent = STR.send;

  var rendered = {};
  var busy = false, historyStale = false, welcome = null;

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  // --- tiny safe Markdown: **bold**, `code`, lists, line breaks, http(s) links, [n] citations
  var INLINE = /(\*\*([^*\n]+)\*\*)|(`([^`\n]+)`)|(\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\))|(https?:\/\/[^\s<>()]*[^\s<>().,;:!?'"，。；：！？）])|(\[(\d{1,2})\])/g;

  function link(text, href) {
    var a = el("a", null, text);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    return a;
  }
  function inline(parent, text, ctx) {
    var last = 0, m;
    INLINE.lastIndex = 0;
    while ((m = INLINE.exec(text))) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[1]) parent.appendChild(el("strong", null, m[2]));
      else if (m[3]) parent.appendChild(el("code", null, m[4]));
      else if (m[5]) parent.appendChild(link(m[6], m[7]));
      else if (m[8]) parent.appendChild(link(m[8], m[8]));
      else if (m[9]) {
        var n = parseInt(m[10], 10);
        if (ctx.byN[n]) { parent.appendChild(citeMarker(n, ctx)); ctx.marked[n] = true; }
        else parent.appendChild(document.createTextNode(m[9]));
      }
      last = INLINE.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  function markdown(container, text, ctx) {
    container.textContent = "";
    var list = null, listType = null, para = null;
    text.replace(/\r\n?/g, "\n").split("\n").forEach(function (raw) {
      var line = raw.replace(/\s+$/, "");
      var m = /^\s*(?:([-*•])|(\d+)[.)])\s+(.*)$/.exec(line);
      if (m) {
        var type = m[1] ? "ul" : "ol";
        if (!list || listType !== type) { list = el(type); container.appendChild(list); listType = type; }
        para = null;
        var li = el("li");
        inline(li, m[3], ctx);
        list.appendChild(li);
        return;
      }
      list = null;
      if (!line.trim()) { para = null; return; }
      if (!para) { para = el("p"); container.appendChild(para); }
      else para.appendChild(el("br"));
      inline(para, line, ctx);
    });
  }

  function citeMarker(n, ctx) {
    var b = el("button", "cite", "[" + n + "]");
    b.type = "button";
    b.setAttribute("aria-label", fmt(STR.cite, { n: n }));
    b.addEventListener("click", function () {
      if (!ctx.details) return;
      ctx.details.open = true;
      var item = ctx.details.querySelector('[data-n="' + n + '"]');
      if (item) { item.classList.add("flash"); item.focus(); setTimeout(function () { item.classList.remove("flash"); }, 1200); }
    });
    return b;
  }
  function sourceItem(c) {
    var li = el("li");
    li.dataset.n = String(c.n);
    li.tabIndex = -1;
    var head = el("div", "src-head");
    head.appendChild(el("span", "src-n", "[" + c.n + "] "));
    if (/^https?:\/\//.test(c.source || "")) head.appendChild(link(c.source, c.source));
    else head.appendChild(el("span", "src-name", c.source || ""));
    var path = (c.heading_path || []).filter(Boolean).join(" › ");
    if (path) head.appendChild(el("span", "src-path", " · " + path));
    if (c.page) head.appendChild(el("span", "src-page", " · " + fmt(STR.page, { n: c.page })));
    li.appendChild(head);
    if (c.excerpt) li.appendChild(el("div", "src-excerpt", c.excerpt));
    return li;
  }

  // A message as shown: who, the bubble, and (for answers) the sources.
  function Message(role, label) {
    this.label = label;
    this.wrap = el("div", "msg msg-" + role);
    this.wrap.appendChild(el("div", "who", label));
    this.bubble = el("div", "bubble");
    this.wrap.appendChild(this.bubble);
    this.text = "";
    this.citations = [];
    if (welcome && role !== "notice") { welcome.remove(); welcome = null; }
    log.appendChild(this.wrap);
    scrollDown();
  }
  // Thumbnails above the bubble (object URLs: the images are fetched with the frame's headers).
  Message.prototype.showImages = function (urls) {
    if (!urls.length) return;
    var box = this.thumbs || el("div", "thumbs");
    urls.forEach(function (url) {
      var img = el("img");
      img.src = url;
      img.alt = STR.image;
      box.appendChild(img);
    });
    if (!this.thumbs) { this.wrap.insertBefore(box, this.bubble); this.thumbs = box; }
    scrollDown();
  };
  Message.prototype.render = function () {
    var ctx = { byN: {}, marked: {}, details: null };
    this.citations.forEach(function (c) { ctx.byN[c.n] = c; });
    if (this.sources) { this.sources.remove(); this.sources = null; }
    if (this.citations.length) {
      var details = el("details", "sources");
      details.appendChild(el("summary", null, STR.sources + " (" + this.citations.length + ")"));
      var ol = el("ol");
      this.citations.forEach(function (c) { ol.appendChild(sourceItem(c)); });
      details.appendChild(ol);
      ctx.details = details;
      this.sources = details;
    }
    this.bubble.classList.toggle("pending", !this.text);
    if (!this.text) { this.bubble.textContent = STR.typing; }
    else markdown(this.bubble, this.text, ctx);
    var unmarked = this.citations.filter(function (c) { return !ctx.marked[c.n]; });
    if (this.text && unmarked.length) {
      var p = el("p", "cites");
      unmarked.forEach(function (c) { p.appendChild(citeMarker(c.n, ctx)); });
      this.bubble.appendChild(p);
    }
    if (this.sources) this.wrap.appendChild(this.sources);
    scrollDown();
  };

  // Thumbs up or down under a bot answer; a thumbs-down asks for an optional comment.
  function feedbackBar(msg, cid, messageId, rated) {
    var bar = el("div", "feedback");
    var up = el("button", "fb fb-up", "\uD83D\uDC4D"), down = el("button", "fb fb-down", "\uD83D\uDC4E");
    var thanks = el("span", "fb-thanks");
    var form = null;
    [[up, STR.helpful], [down, STR.unhelpful]].forEach(function (b) {
      b[0].type = "button";
      b[0].setAttribute("aria-label", b[1]);
      b[0].title = b[1];
    });
    function pressed(rating) {
      up.setAttribute("aria-pressed", rating === "up" ? "true" : "false");
      down.setAttribute("aria-pressed", rating === "down" ? "true" : "false");
    }
    async function rate(rating, comment) {
      var url = "api/conversations/" + encodeURIComponent(cid) + "/messages/" + messageId + "/feedback";
      try {
        var res = await fetch(url, {
          method: "POST", headers: headers({ "Content-Type": "application/json" }),
          body: JSON.stringify({ rating: rating, comment: comment || null })
        });
        if (!res.ok) return false;
      } catch (e) { return false; }
      pressed(rating);
      thanks.textContent = STR.thanks;
      return true;
    }
    up.addEventListener("click", function () {
      if (form) { form.remove(); form = null; }
      rate("up");
    });
    down.addEventListener("click", async function () {
      if (!(await rate("down")) || form) return;
      form = el("form", "fb-comment");
      var input = el("input");
      input.type = "text";
      input.maxLength = 1000;
      input.placeholder = STR.comment;
      input.setAttribute("aria-label", STR.comment);
      var ok = el("button", "fb-send", STR.commentSend);
      ok.type = "submit";
      form.appendChild(input);
      form.appendChild(ok);
      form.addEventListener("submit", async function (e) {
        e.preventDefault();
        var text = input.value.trim();
        if (text && (await rate("down", text)) && form) { form.remove(); form = null; }
      });
      bar.appendChild(form);
      input.focus();
    });
    pressed(rated);
    bar.appendChild(up);
    bar.appendChild(down);
    bar.appendChild(thanks);
    msg.wrap.appendChild(bar);
  }

  function showMessage(m) {
    var key = m.role === "user" && m.client_message_id ? "c:" + m.client_message_id : "m:" + m.id;
    if (rendered[key] || rendered["m:" + m.id]) return null;
    rendered[key] = rendered["m:" + m.id] = true;
    if (!m.content) return null;
    var label = m.role === "user" ? STR.you : m.role === "agent" ? (m.agent ? STR.agent + " " + m.agent : STR.agent) : cfg.bot;
    var msg = new Message(m.role === "assistant" ? "bot" : m.role, label);
    msg.text = m.content;
    msg.citations = m.citations || [];
    msg.render();
    if (m.attachments && m.attachments.length) {
      // An image sent alone is stored with a placeholder text: the thumbnail says it better.
      if (m.content === "[图片]" || m.content === "[image]") msg.bubble.hidden = true;
      loadImages(msg, m.attachments);
    }
    if (m.role === "assistant" && conversationId) feedbackBar(msg, conversationId, m.id, m.feedback);
    return msg;
  }
  function announceMessage(msg) { if (msg) announce(msg.label + ": " + msg.bubble.textContent); }

  function setStatus(text) {
    statusLine.textContent = text || "";
    statusLine.hidden = !text;
  }
  var lastStatus = null;
  function lastStatusIsHandoff() { return lastStatus === "awaiting_human" || lastStatus === "human"; }
  function applyStatus(status, live) {
    if (status === "awaiting_human") setStatus(STR.awaiting);
    else if (status === "human") setStatus(STR.human);
    else if (status === "closed") { setStatus(STR.closed); setConversation(null); disconnectEvents(); }
    else if (status === "bot") setStatus(live && lastStatus && lastStatus !== "bot" ? STR.bot : "");
    lastStatus = status;
  }

  // --- the API (same origin as this frame)
  function headers(extra) {
    // The visitor token: whose anonymous conversations these are. The identity: a signed-in
    // customer's conversation is only shown while that customer is signed in.
    var h = { Authorization: "Bearer " + cfg.key, "X-Kefu-Origin": cfg.origin };
    if (visitorToken) h["X-Kefu-Visitor-Token"] = visitorToken;
    if (identity) h["X-Kefu-Identity"] = identity;
    for (var k in extra || {}) h[k] = extra[k];
    return h;
  }
  async function readSSE(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buf = "";
    for (;;) {
      var r = await reader.read();
      if (r.done) return;
      buf += decoder.decode(r.value, { stream: true }).replace(/\r\n?/g, "\n");
      var idx;
      while ((idx = buf.indexOf("\n\n")) >= 0) {
        var block = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        var name = "message", data = [];
        block.split("\n").forEach(function (line) {
          if (!line || line.charAt(0) === ":") return; // keep-alive comments
          var c = line.indexOf(":");
          var field = c < 0 ? line : line.slice(0, c);
          var value = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
          if (field === "event") name = value;
          else if (field === "data") data.push(value);
        });
        if (!data.length) continue;
        var parsed;
        try { parsed = JSON.parse(data.join("\n")); } catch (e) { continue; }
        onEvent(name, parsed);
      }
    }
  }
  async function errorOf(res) {
    try { var body = await res.json(); return body.error || {}; } catch (e) { return {}; }
  }

  async function refreshHistory() {
    if (!conversationId) return;
    if (busy) { historyStale = true; return; }
    var res;
    try {
      res = await fetch("api/conversations/" + encodeURIComponent(conversationId) + "/messages", { headers: headers() });
    } catch (e) { return; }
    if (res.status === 404) { setConversation(null); disconnectEvents(); return; }
    if (!res.ok) {
      if (res.status === 403 && (await errorOf(res)).code === "identity_mismatch") startFresh();
      return;
    }
    var h = await res.json();
    h.messages.forEach(showMessage);
    applyStatus(h.status, false);
  }

  // --- live events: agent replies and status changes while a person holds the conversation
  var events = null, eventsFor = null, backoff = 1000;
  function disconnectEvents() {
    if (events) events.abort();
    events = null;
    eventsFor = null;
  }
  function connectEvents() {
    if (!conversationId || eventsFor === conversationId) return;
    disconnectEvents();
    var cid = conversationId, ctrl = new AbortController();
    events = ctrl;
    eventsFor = cid;
    (async function () {
      try {
        var res = await fetch("api/conversations/" + encodeURIComponent(cid) + "/events", { headers: headers(), signal: ctrl.signal });
        if (res.status === 404) { if (eventsFor === cid) { eventsFor = null; setConversation(null); } return; }
        if (res.status === 403) {
          if (eventsFor === cid) { eventsFor = null; if ((await errorOf(res)).code === "identity_mismatch") startFresh(); }
          return;
        }
        if (res.ok) {
          backoff = 1000;
          await readSSE(res, function (name, data) {
            if (name === "ready") refreshHistory();
            else if (name === "agent_message") {
              announceMessage(showMessage({ role: "agent", id: data.message_id, content: data.content, agent: data.agent }));
            }
            else if (name === "status") applyStatus(data.status, true);
          });
        }
      } catch (e) { /* dropped: reconnect below */ }
      if (ctrl.signal.aborted || eventsFor !== cid) return;
      eventsFor = null;
      setTimeout(connectEvents, backoff);
      backoff = Math.min(backoff * 2, 30000);
    })();
  }

  async function loadImages(msg, ids) {
    var cid = conversationId;
    var urls = [];
    for (var i = 0; i < ids.length; i++) {
      try {
        var res = await fetch("api/conversations/" + encodeURIComponent(cid) + "/attachments/" + ids[i], { headers: headers() });
        if (res.ok) urls.push(URL.createObjectURL(await res.blob()));
      } catch (e) { /* a missing thumbnail is not worth an error */ }
    }
    msg.showImages(urls);
  }

  // --- images: uploaded as soon as chosen, pasted or dropped (with progress), sent by id
  var MAX_IMAGES = 4;
  var tray = document.getElementById("kefu-tray");
  var attachBtn = document.getElementById("kefu-attach");
  var fileInput = document.getElementById("kefu-file");
  var pending = [];
  attachBtn.setAttribute("aria-label", STR.attach);
  attachBtn.title = STR.attach;
  attachBtn.addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () { addFiles(fileInput.files); fileInput.value = ""; });
  input.addEventListener("paste", function (e) {
    var files = e.clipboardData ? e.clipboardData.files : null;
    if (files && files.length) { e.preventDefault(); addFiles(files); }
  });
  document.addEventListener("dragover", function (e) { e.preventDefault(); });
  document.addEventListener("drop", function (e) {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
  });
  function addFiles(files) {
    Array.prototype.forEach.call(files, function (file) {
      if (pending.length >= MAX_IMAGES) { setStatus(fmt(STR.tooManyImages, { n: MAX_IMAGES })); return; }
      upload(file);
    });
  }
  function dropPending(p) {
    pending = pending.filter(function (q) { return q !== p; });
    if (p.xhr && p.id == null) p.xhr.abort();
    p.item.remove();
    tray.hidden = !pending.length;
  }
  function upload(file) {
    var p = { url: URL.createObjectURL(file), id: null, failed: false, xhr: new XMLHttpRequest() };
    p.item = el("div", "tray-item");
    var img = el("img");
    img.src = p.url;
    img.alt = STR.image;
    var bar = el("progress");
    bar.max = 100;
    bar.value = 0;
    var remove = el("button", "tray-remove", "\u00d7");
    remove.type = "button";
    remove.setAttribute("aria-label", STR.remove);
    remove.addEventListener("click", function () { dropPending(p); });
    p.item.appendChild(img);
    p.item.appendChild(bar);
    p.item.appendChild(remove);
    tray.appendChild(p.item);
    tray.hidden = false;
    pending.push(p);
    var xhr = p.xhr;
    xhr.open("POST", "api/uploads");
    var h = headers();
    for (var k in h) xhr.setRequestHeader(k, h[k]);
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
    xhr.onload = function () {
      keepVisitor({ headers: { get: function (n) { return xhr.getResponseHeader(n); } } });
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status === 201 && body) {
        p.id = body.attachment_id;
        bar.value = 100;
        p.item.classList.add("done");
        if (statusLine.textContent === STR.uploading) setStatus("");
      } else uploadFailed(p, body && body.error ? body.error.code : "");
    };
    xhr.onerror = function () { uploadFailed(p, ""); };
    var data = new FormData();
    data.append("image", file, file.name || "image");
    xhr.send(data);
  }
  function uploadFailed(p, code) {
    var message = code === "image_too_large" || code === "image_too_many_pixels" ? STR.imageTooLarge
      : code === "not_an_image" || code === "invalid_image" ? STR.notImage : STR.error;
    dropPending(p);
    setStatus(message);
    announce(message);
  }

  // --- sending: one client id per message, reused by retries so it is answered once
  async function send(text, images) {
    images = images || [];
    var clientId = randomId();
    rendered["c:" + clientId] = true;
    var mine = new Message("user", STR.you);
    mine.text = text;
    if (text) mine.render();
    else mine.bubble.hidden = true;
    mine.showImages(images.map(function (p) { return p.url; }));
    var reply = new Message("bot", cfg.bot);
    reply.render();
    busy = true;
    log.setAttribute("aria-busy", "true");
    try {
      await initialised;
      await deliver(text, clientId, reply, images.map(function (p) { return p.id; }));
    } finally {
      busy = false;
      log.setAttribute("aria-busy", "false");
      if (historyStale) { historyStale = false; refreshHistory(); }
    }
  }

  async function deliver(text, clientId, reply, attachmentIds) {
    var resets = 0;
    for (var attempt = 0; attempt < 4; attempt++) {
      if (attempt) {
        setStatus(STR.retrying);
        await new Promise(function (r) { setTimeout(r, 500 * Math.pow(2, attempt)); });
      }
      var res;
      try {
        res = await fetch("api/messages", {
          method: "POST",
          headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
          body: JSON.stringify({
            text: text, client_message_id: clientId,
            conversation_id: conversationId, identity: identity,
            attachment_ids: attachmentIds || [], lang: cfg.lang
          })
        });
      } catch (e) { continue; }
      keepVisitor(res);
      if (!res.ok) {
        var err = await errorOf(res);
        var stale = err.code === "not_found" || err.code === "conversation_closed" || err.code === "identity_mismatch";
        if (stale && resets++ < 2) {
          // Start afresh; a changed sign-in also gets a new visitor, so nothing carries over.
          if (err.code === "identity_mismatch") newVisitor();
          setConversation(null);
          disconnectEvents();
          attempt--;
          continue;
        }
        if (res.status >= 500) continue;
        // Server messages are English developer text; the visitor gets their language.
        fail(reply, err.code === "message_too_long" ? fmt(STR.tooLong, { n: cfg.max }) : STR.error);
        return;
      }
      reply.text = "";
      reply.citations = [];
      var outcome = null;
      try {
        await readSSE(res, function (name, data) {
          if (name === "delta") { reply.text += data.text || ""; reply.render(); }
          else if (name === "citations") { reply.citations = data.items || []; reply.render(); }
          else if (name === "handoff") { setStatus(STR.awaiting); lastStatus = "awaiting_human"; }
          else if (name === "tool" && !lastStatusIsHandoff()) setStatus(data.phase === "started" ? STR.tool : "");
          else if (name === "done") outcome = data;
          else if (name === "error") outcome = { error: data };
        });
      } catch (e) { /* dropped mid-answer: retried with the same client id */ }
      if (!outcome) continue;
      if (statusLine.textContent === STR.retrying) setStatus("");
      if (outcome.error) { fail(reply, STR.error); return; }
      if (outcome.message_id) rendered["m:" + outcome.message_id] = true;
      if (!reply.text) reply.wrap.remove(); // a person holds the conversation: no bot reply
      else {
        announceMessage(reply);
        if (outcome.message_id) feedbackBar(reply, outcome.conversation_id, outcome.message_id, null);
      }
      if (outcome.conversation_id && outcome.conversation_id !== conversationId) {
        setConversation(outcome.conversation_id);
      }
      connectEvents();
      return;
    }
    fail(reply, STR.error);
  }

  function fail(reply, message) {
    if (statusLine.textContent === STR.retrying) setStatus("");
    reply.wrap.classList.add("msg-error");
    reply.text = message;
    reply.citations = [];
    reply.render();
    announce(message);
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (busy) return;
    if (pending.some(function (p) { return p.id == null; })) { setStatus(STR.uploading); return; }
    var images = pending.slice();
    if (!text && !images.length) return;
    if (text.length > cfg.max) { setStatus(fmt(STR.tooLong, { n: cfg.max })); return; }
    input.value = "";
    pending = [];
    tray.textContent = "";
    tray.hidden = true;
    send(text, images);
  });
  input.addEventListener("keydown", function (e) {
    // isComposing: Enter also confirms a Chinese IME candidate; that must not send.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  function closePanel() { window.parent.postMessage({ type: "kefu:close" }, cfg.origin); }
  closeBtn.addEventListener("click", closePanel);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") closePanel(); });

  window.addEventListener("message", function (event) {
    // Trust only the host page the server validated this frame for.
    if (event.source !== window.parent || event.origin !== cfg.origin) return;
    var data = event.data;
    if (!data || typeof data !== "object") return;
    if (data.type === "kefu:init" || data.type === "kefu:identity") {
      var previous = identity;
      identity = typeof data.identity === "string" && data.identity ? data.identity : null;
      markInit();
      if (data.type === "kefu:identity" && identity !== previous && conversationId && loaded) {
        // Signed out or switched account: re-check the conversation under the new identity.
        disconnectEvents();
        refreshHistory().then(connectEvents);
      }
    }
    if (data.type === "kefu:open" || (data.type === "kefu:init" && data.open)) input.focus();
  });

  // History and live events wait for the host page's identity: they are checked against it.
  var loaded = !conversationId;
  if (loaded) greet();
  else {
    initialised.then(refreshHistory).then(function () {
      loaded = true;
      if (!log.querySelector(".msg")) greet();
      connectEvents();
    });
  }
  function greet() {
    welcome = el("div", "msg msg-bot welcome");
    welcome.appendChild(el("div", "who", cfg.bot));
    welcome.appendChild(el("div", "bubble", fmt(STR.welcome, { bot: cfg.bot })));
    log.appendChild(welcome);
  }
  if (window.parent !== window) window.parent.postMessage({ type: "kefu:ready" }, cfg.origin);
  input.focus();
})();
