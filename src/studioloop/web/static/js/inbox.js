// Live updates for the open conversation: new messages and "typing…" appear without a
// reload. Without this file the page still works (reply, then the page reloads).
"use strict";

(function () {
  const box = document.getElementById("conversation");
  if (!box || !("WebSocket" in window)) return;
  const list = document.getElementById("messages");
  const typing = document.getElementById("typing");
  const field = document.getElementById("body");
  let last = Number(box.dataset.last || 0);
  let socket = null;

  // Times on the studio's clock, as the page prints them ("07 Dec 17:30"), not the
  // clock of whoever reads the inbox.
  const clock = new Intl.DateTimeFormat("en-GB", {
    timeZone: box.dataset.timezone || undefined, day: "2-digit", month: "short",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  function onStudioClock(iso) {
    const parts = {};
    clock.formatToParts(new Date(iso)).forEach((p) => { parts[p.type] = p.value; });
    return parts.day + " " + parts.month + " " + parts.hour + ":" + parts.minute;
  }

  function show(message) {
    if (message.seq <= last) return;
    last = message.seq;
    const item = document.createElement("li");
    item.className = message.is_staff ? "mine" : "theirs";
    const meta = document.createElement("span");
    meta.className = "muted small";
    const stamp = document.createElement("time");
    stamp.dateTime = message.created_at;
    stamp.textContent = onStudioClock(message.created_at);
    meta.append(message.sender_name + " · ", stamp);
    let content = document.createTextNode(message.body);
    if (message.attachment_name) {
      content = document.createElement("a");
      content.href = "/s/" + box.dataset.studio + "/staff/inbox/" + box.dataset.room + "/files/" + message.id;
      content.textContent = "📎 " + message.attachment_name;
    }
    item.append(meta, document.createElement("br"), content);
    list.append(item);
    typing.textContent = "";
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = scheme + "//" + location.host + "/api/v1/chat/rooms/" + box.dataset.room +
      "/websocket?token=" + encodeURIComponent(box.dataset.token) +
      "&tenant=" + encodeURIComponent(box.dataset.studio) + "&after=" + last;
    socket = new WebSocket(url);
    socket.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "message") {
        show(data.message);
        if (!data.message.is_staff) socket.send(JSON.stringify({ type: "read", seq: data.message.seq }));
      } else if (data.type === "typing") {
        typing.textContent = data.who + " is typing…";
      }
    };
    socket.onclose = () => setTimeout(connect, 3000); // back with what was missed
  }

  let lastTyping = 0;
  field.addEventListener("input", () => {
    if (socket && socket.readyState === 1 && Date.now() - lastTyping > 2000) {
      lastTyping = Date.now();
      socket.send(JSON.stringify({ type: "typing" }));
    }
  });
  connect();
})();
