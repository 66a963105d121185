// The chat frame of the website widget: a visitor gives a name and email, then talks to
// the studio live. Their token and conversation stay in this browser for the next visit.
"use strict";

(function () {
  const root = document.getElementById("chat");
  if (!root) return;
  const slug = root.dataset.studio;
  const key = "sl-chat-" + slug;
  const saved = JSON.parse(localStorage.getItem(key) || "{}");
  const intro = document.getElementById("intro");
  const talk = document.getElementById("talk");
  const list = document.getElementById("messages");
  const state = document.getElementById("chat-state");
  const field = document.getElementById("message");
  let last = 0;
  let socket = null;

  function save() { localStorage.setItem(key, JSON.stringify(saved)); }
  function api(path, body) {
    return fetch("/api/v1/tenants/" + encodeURIComponent(slug) + path, {
      method: "POST",
      headers: Object.assign({ "Content-Type": "application/json" },
        saved.token ? { Authorization: "Bearer " + saved.token } : {}),
      body: JSON.stringify(body),
    }).then((r) => r.json().then((data) => ({ ok: r.ok, status: r.status, data: data })));
  }
  let typingTimer = null;
  function typing(who) {
    state.textContent = who + " is typing…";
    clearTimeout(typingTimer);
    // No word for a while: they stopped typing (or the reply is on its way as a message).
    typingTimer = setTimeout(() => { if (state.dataset.typing) clearTyping(); }, 8000);
    state.dataset.typing = "1";
  }
  function clearTyping() {
    clearTimeout(typingTimer);
    if (state.dataset.typing) { state.textContent = ""; delete state.dataset.typing; }
  }
  function show(message) {
    if (message.is_staff) clearTyping(); // the reply arrived: no longer "typing…"
    if (message.seq <= last) return;
    last = message.seq;
    const item = document.createElement("li");
    item.className = message.is_staff ? "theirs" : "mine";
    const who = document.createElement("span");
    who.className = "muted small";
    who.textContent = message.is_staff ? message.sender_name : "You";
    item.append(who, document.createElement("br"), document.createTextNode(message.body));
    list.append(item);
    list.scrollTop = list.scrollHeight;
  }
  function connect() {
    if (!saved.room) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + location.host + "/api/v1/chat/rooms/" + saved.room +
      "/websocket?token=" + encodeURIComponent(saved.token) + "&after=" + last);
    socket.onopen = () => { state.textContent = ""; };
    socket.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "message") show(data.message);
      else if (data.type === "typing") typing(data.who);
      else if (data.type === "error") state.textContent = data.message;
    };
    socket.onclose = (event) => {
      if (event.code === 4401) { localStorage.removeItem(key); location.reload(); return; }
      state.textContent = "Reconnecting…";
      setTimeout(connect, 3000);
    };
  }
  function begin() { intro.hidden = true; talk.hidden = false; connect(); field.focus(); }

  document.getElementById("intro-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const answer = await api("/guest/token", { name: form.get("name"), email: form.get("email") });
    if (!answer.ok) { state.textContent = (answer.data.error || {}).message || "Please check your details."; return; }
    saved.token = answer.data.token;
    save();
    begin();
  });
  document.getElementById("talk-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = field.value.trim();
    if (!body) return;
    field.value = "";
    if (!saved.room) {
      const opened = await api("/chat/rooms", { subject: body.slice(0, 80), message: body });
      if (!opened.ok) { state.textContent = (opened.data.error || {}).message || "Could not send."; return; }
      saved.room = opened.data.id;
      save();
      connect();
    } else if (socket && socket.readyState === 1) {
      socket.send(JSON.stringify({ type: "message", body: body }));
    }
  });
  // The frame sits on the studio's own website: its page (widget/chat.js) hides it.
  document.getElementById("chat-close").addEventListener("click", () => {
    if (window.parent !== window) window.parent.postMessage({ studioloop: "chat", action: "close" }, "*");
  });
  if (saved.token) begin();
})();
