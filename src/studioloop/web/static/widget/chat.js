// StudioLoop chat on any website, with one tag:
//   <script src="https://YOUR-STUDIOLOOP/widget/chat.js" data-studio="loop-yoga" async></script>
// It adds a "Chat with us" button; the conversation itself runs in a frame served by
// StudioLoop, so the host page's styles and scripts cannot touch it.
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !me.dataset.studio) return;
  var origin = new URL(me.src).origin;
  var label = me.dataset.label || "Chat with us";
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.setAttribute("aria-expanded", "false");
  button.style.cssText = "position:fixed;right:16px;bottom:16px;z-index:2147483000;padding:12px 18px;" +
    "border:0;border-radius:999px;background:" + (me.dataset.color || "#0f766e") +
    ";color:#fff;font:600 15px system-ui,sans-serif;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer";
  var frame = null;
  button.addEventListener("click", function () {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = "studioloop-chat";
      frame.title = label;
      frame.src = origin + "/s/" + encodeURIComponent(me.dataset.studio) + "/chat";
      frame.style.cssText = "position:fixed;right:16px;bottom:72px;z-index:2147483000;width:min(360px,calc(100vw - 32px));" +
        "height:min(520px,calc(100vh - 96px));border:1px solid #d1d5db;border-radius:12px;background:#fff;" +
        "box-shadow:0 8px 30px rgba(0,0,0,.25)";
      document.body.appendChild(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    button.setAttribute("aria-expanded", String(!frame.hidden));
  });
  // The frame's own close button asks this page to hide it.
  window.addEventListener("message", function (event) {
    var data = event.data || {};
    if (!frame || event.origin !== origin || event.source !== frame.contentWindow) return;
    if (data.studioloop === "chat" && data.action === "close") {
      frame.hidden = true;
      button.setAttribute("aria-expanded", "false");
      button.focus();
    }
  });
  document.body.appendChild(button);
})();
