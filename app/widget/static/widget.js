/* kefu web chat widget loader: <script src="https://HOST/widget.js" data-key="KEY" async></script>
 * Adds a launcher button and an iframe served by kefu. Both live in a shadow root, so the host
 * page's CSS cannot restyle them; the chat itself runs in the frame, on kefu's origin. */
(function () {
  "use strict";
  if (window.KefuWidget) return;
  var script =
    document.currentScript || document.querySelector('script[src*="widget.js"][data-key]');
  if (!script) return;
  var key = script.getAttribute("data-key") || "";
  var kefuBase = new URL(".", script.src);
  var kefuOrigin = kefuBase.origin;
  var navLang = (navigator.language || "zh").toLowerCase();
  var lang = script.getAttribute("data-lang") || (navLang.indexOf("zh") === 0 ? "zh" : "en");
  lang = lang === "en" ? "en" : "zh";
  var identity = script.getAttribute("data-identity") || null;
  var T = {
    zh: { open: "打开在线客服", close: "关闭在线客服", title: "在线客服" },
    en: { open: "Open customer support chat", close: "Close customer support chat", title: "Customer support" }
  }[lang];

  var CSS =
    ":host{all:initial}" +
    ".launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;" +
    "border:0;padding:0;background:#1f5fbf;color:#fff;cursor:pointer;z-index:2147483000;" +
    "box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}" +
    ".launcher:hover{background:#174c99}" +
    ".launcher:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}" +
    ".launcher svg{width:28px;height:28px;fill:currentColor}" +
    ".panel{position:fixed;right:20px;bottom:88px;width:380px;height:600px;max-height:calc(100vh - 110px);" +
    "border-radius:12px;overflow:hidden;background:#fff;z-index:2147483000;box-shadow:0 8px 30px rgba(0,0,0,.25)}" +
    ".panel[hidden]{display:none}" +
    "iframe{display:block;width:100%;height:100%;border:0}" +
    "@media (max-width:480px){.panel{right:0;bottom:0;top:0;left:0;width:100%;height:100%;" +
    "max-height:none;border-radius:0}.launcher.open{display:none}}";

  var host, launcher, panel, frame, frameReady = false, isOpen = false;

  function frameUrl() {
    var u = new URL("widget/frame", kefuBase);
    u.searchParams.set("key", key);
    u.searchParams.set("origin", location.origin);
    u.searchParams.set("lang", lang);
    return u.toString();
  }

  function post(msg) {
    if (frame && frameReady) frame.contentWindow.postMessage(msg, kefuOrigin);
  }

  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = "kefu-frame";
      frame.title = T.title;
      frame.setAttribute("allow", "clipboard-write");
      frame.src = frameUrl();
      panel.appendChild(frame);
    }
    panel.hidden = false;
    isOpen = true;
    launcher.classList.add("open");
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", T.close);
    frame.focus();
    post({ type: "kefu:open" });
  }

  function close() {
    if (!frame) return;
    panel.hidden = true;
    isOpen = false;
    launcher.classList.remove("open");
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", T.open);
    launcher.focus();
  }

  window.addEventListener("message", function (event) {
    // Only kefu's frame may talk to the loader.
    if (!frame || event.origin !== kefuOrigin || event.source !== frame.contentWindow) return;
    var data = event.data;
    if (!data || typeof data !== "object") return;
    if (data.type === "kefu:ready") {
      frameReady = true;
      post({ type: "kefu:init", identity: identity, open: isOpen });
    } else if (data.type === "kefu:close") {
      close();
    }
  });

  function mount() {
    host = document.createElement("div");
    host.id = "kefu-widget";
    var root = host.attachShadow({ mode: "open" });
    var style = document.createElement("style");
    style.textContent = CSS;
    launcher = document.createElement("button");
    launcher.type = "button";
    launcher.className = "launcher";
    launcher.setAttribute("aria-label", T.open);
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-haspopup", "dialog");
    launcher.setAttribute("aria-controls", "kefu-panel");
    launcher.innerHTML =
      '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
    launcher.addEventListener("click", function () {
      if (isOpen) close();
      else open();
    });
    // The popup the launcher announces. Not modal: the page stays usable beside it (and the
    // iframe itself may not carry a dialog role). It gets its iframe on first open.
    panel = document.createElement("div");
    panel.id = "kefu-panel";
    panel.className = "panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-modal", "false");
    panel.setAttribute("aria-label", T.title);
    root.appendChild(style);
    root.appendChild(panel);
    root.appendChild(launcher);
    document.body.appendChild(host);
  }

  // Escape inside the frame arrives as kefu:close (key events do not leave an iframe). Here:
  // Escape on the launcher, or on the page while nothing there has the focus. A host page's
  // own control that has the focus, or that handled the key, keeps its Escape.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape" || !isOpen || e.defaultPrevented) return;
    var active = document.activeElement;
    if (e.target === host || !active || active === document.body) close();
  });

  window.KefuWidget = {
    open: open,
    close: close,
    toggle: function () {
      if (isOpen) close();
      else open();
    },
    /* For sites that sign a visitor in after the page loaded. */
    setIdentity: function (token) {
      identity = token || null;
      post({ type: "kefu:identity", identity: identity });
    }
  };

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
