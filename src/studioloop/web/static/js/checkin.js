// The door page's extras. Without them the form still checks people in online.
// - Camera: BarcodeDetector reads the QR code and submits it.
// - Offline: codes are verified here with the studio's Ed25519 public key (the same
//   signature the server checks), looked up in today's roster kept on the device, and
//   queued; the queue goes to the batch endpoint when the connection is back, where the
//   server applies each scan once and reports conflicts.
"use strict";

(function () {
  const scanner = document.getElementById("scanner");
  if (!scanner) return;
  const slug = scanner.dataset.studio;
  const rosterKey = "sl-roster-" + slug;
  const queueKey = "sl-queue-" + slug;
  const deviceKey = "sl-device";
  const form = document.getElementById("code-form");
  const input = document.getElementById("code");
  const result = document.getElementById("scan-result");
  const queueState = document.getElementById("queue-state");

  function device() {
    let id = localStorage.getItem(deviceKey);
    if (!id) { id = "web-" + crypto.randomUUID(); localStorage.setItem(deviceKey, id); }
    return id;
  }
  function queue() { return JSON.parse(localStorage.getItem(queueKey) || "[]"); }
  function saveQueue(items) {
    localStorage.setItem(queueKey, JSON.stringify(items));
    queueState.hidden = items.length === 0;
    queueState.textContent = items.length + " scan(s) waiting to be sent.";
  }
  function say(message, ok) {
    result.textContent = message;
    result.className = ok ? "notice" : "alert";
  }

  async function keepRoster() {
    if (!navigator.onLine) return;
    try {
      const response = await fetch("/s/" + slug + "/staff/checkin/roster.json", { credentials: "same-origin" });
      if (response.ok) localStorage.setItem(rosterKey, await response.text());
    } catch (error) { /* keep the copy we have */ }
  }

  function b64(text) {
    const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  async function verifyOffline(code) {
    const roster = JSON.parse(localStorage.getItem(rosterKey) || "null");
    if (!roster) return { ok: false, message: "Offline, and no roster was saved on this device yet." };
    const parts = code.split(".");
    if (parts.length !== 3 || parts[0] !== "SL1") return { ok: false, message: "This is not a StudioLoop check-in code." };
    const payload = b64(parts[1]);
    const key = await crypto.subtle.importKey("raw", b64(roster.public_key), { name: "Ed25519" }, false, ["verify"]);
    const genuine = await crypto.subtle.verify({ name: "Ed25519" }, key, b64(parts[2]), payload);
    if (!genuine) return { ok: false, message: "This code is not genuine." };
    const claims = JSON.parse(new TextDecoder().decode(payload));
    if (claims.t !== roster.tenant_id) return { ok: false, message: "This code is for another studio." };
    for (const occurrence of roster.occurrences) {
      for (const booking of occurrence.bookings) {
        if (booking.booking_id !== claims.b) continue;
        if (booking.status !== "confirmed") return { ok: false, message: "On the waitlist, not booked." };
        return { ok: true, booking: booking, occurrence: occurrence };
      }
    }
    return { ok: false, message: "No such booking in today's classes." };
  }

  function markIn(bookingId) {
    document.querySelectorAll('[data-booking="' + bookingId + '"]').forEach((row) => {
      row.classList.add("in");
      const state = row.querySelector(".state");
      if (state) state.textContent = "checked in (to sync)";
    });
  }

  async function sync() {
    const items = queue();
    if (!items.length || !navigator.onLine) return;
    try {
      const response = await fetch("/s/" + slug + "/staff/checkin/batch", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": scanner.dataset.csrf },
        body: JSON.stringify({ device_id: device(), scans: items }),
      });
      if (!response.ok) return;
      const answer = await response.json();
      saveQueue([]);
      const refused = answer.results.filter((r) => r.result === "rejected");
      say("Synced " + answer.results.length + " offline scan(s)" +
        (refused.length ? "; " + refused.length + " refused: " + refused.map((r) => r.message || r.code).join(", ") : "."), !refused.length);
      keepRoster();
    } catch (error) { /* try again later */ }
  }

  form.addEventListener("submit", async (event) => {
    if (navigator.onLine) return; // the server checks it
    event.preventDefault();
    const code = input.value.trim();
    const verdict = await verifyOffline(code);
    if (!verdict.ok) { say(verdict.message, false); return; }
    const items = queue();
    items.push({ nonce: crypto.randomUUID(), code: code, scanned_at: new Date().toISOString() });
    saveQueue(items);
    markIn(verdict.booking.booking_id);
    say(verdict.booking.first_name + " " + verdict.booking.last_name + " is checked in (offline; will sync).", true);
    input.value = "";
    input.focus();
  });

  // The camera, where the browser can read QR codes.
  const start = document.getElementById("camera-start");
  if ("BarcodeDetector" in window && navigator.mediaDevices) {
    start.hidden = false;
    let stream = null;
    const video = document.getElementById("camera-view");
    const stop = () => {
      if (stream) stream.getTracks().forEach((t) => t.stop());
      stream = null;
      document.getElementById("camera").hidden = true;
    };
    document.getElementById("camera-stop").addEventListener("click", stop);
    start.addEventListener("click", async () => {
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.srcObject = stream;
      await video.play();
      document.getElementById("camera").hidden = false;
      const look = async () => {
        if (!stream) return;
        const codes = await detector.detect(video).catch(() => []);
        if (codes.length) {
          input.value = codes[0].rawValue;
          stop();
          form.requestSubmit();
          return;
        }
        setTimeout(look, 250);
      };
      look();
    });
  }

  window.addEventListener("online", sync);
  saveQueue(queue());
  keepRoster().then(sync);
})();
