// The door page's extras. Without them the form still checks people in online.
// - Camera: the browser's BarcodeDetector reads the QR code where there is one (Chrome on
//   Android); elsewhere (iOS Safari, Firefox, desktop Chrome) the vendored jsQR reader
//   (static/vendor/jsqr-1.4.0, Apache-2.0), loaded only then, reads the camera's frames.
// - Offline: a QR code is verified here with the studio's Ed25519 public key (the same
//   signature the server checks), a typed short code is found in the roster, and the
//   booking is checked against today's roster kept on the device, with each class's
//   check-in window as the server sent it (the rule lives on the server only). Good scans
//   are queued and go to the batch endpoint when the connection is back, where the server
//   applies each once and reports conflicts.
"use strict";

(function () {
  const JSQR_URL = "/static/vendor/jsqr-1.4.0/jsQR.js";
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
  const hasDetector = "BarcodeDetector" in window;

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
  function savedRoster() { return JSON.parse(localStorage.getItem(rosterKey) || "null"); }

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
  function clock(roster, iso) {
    return new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: roster.timezone }).format(new Date(iso));
  }
  function today(roster) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: roster.timezone }).format(new Date());
  }
  function entries(roster) {
    const found = [];
    for (const occurrence of roster.occurrences) {
      for (const booking of occurrence.bookings) found.push({ booking: booking, occurrence: occurrence });
    }
    return found;
  }
  function live(found) { return found.filter((f) => f.booking.status !== "cancelled"); }

  // Which roster entry a QR code or a short code stands for, or why none.
  async function lookUp(roster, code) {
    const parts = code.split(".");
    if (parts[0] === "SL1") {
      if (parts.length !== 3) return { message: "This is not a valid StudioLoop check-in code." };
      let genuine = false;
      let claims = null;
      try {
        const payload = b64(parts[1]);
        const key = await crypto.subtle.importKey("raw", b64(roster.public_key), { name: "Ed25519" }, false, ["verify"]);
        claims = JSON.parse(new TextDecoder().decode(payload));
        // Another studio's code is not signed with this studio's key: say whose it is.
        if (claims.t !== roster.tenant_id) return { message: "This code belongs to another studio." };
        genuine = await crypto.subtle.verify({ name: "Ed25519" }, key, b64(parts[2]), payload);
      } catch (error) { genuine = false; }
      if (!genuine) return { message: "This code is not genuine." };
      const matches = entries(roster).filter((f) => f.booking.booking_id === claims.b);
      return (live(matches)[0] || matches[0]) || { message: "No such booking in today's classes." };
    }
    const short = code.replace(/[\s-]/g, "").toUpperCase();
    const matches = entries(roster).filter((f) => f.booking.short_code === short);
    if (live(matches).length > 1) return { message: "Two bookings share this code today: scan the QR code, or tap the name." };
    return (live(matches)[0] || matches[0]) || {
      message: "No booking at this studio today has the code " + short.slice(0, 3) + " " + short.slice(3) +
        ". Check the code, and that the booking is for this studio.",
    };
  }

  // The server's rules, applied to what the server sent: state, then the window.
  async function verifyOffline(code) {
    const roster = savedRoster();
    if (!roster) return { ok: false, message: "Offline, and no roster was saved on this device yet." };
    if (roster.date !== today(roster)) {
      return { ok: false, message: "Offline, and the roster saved on this device is for " + roster.date + ", not today." };
    }
    const found = await lookUp(roster, code);
    if (!found.booking) return { ok: false, message: found.message };
    const booking = found.booking;
    const name = booking.first_name + " " + booking.last_name;
    const queued = queue().find((item) => item.booking_id === booking.booking_id);
    const firstAt = booking.check_in_time || (queued && queued.scanned_at);
    if (firstAt) return { ok: false, message: name + " was already checked in at " + clock(roster, firstAt) + "." };
    if (booking.status === "cancelled") return { ok: false, message: "This booking was cancelled." };
    if (booking.status !== "confirmed") return { ok: false, message: "This person is on the waitlist, not booked." };
    const now = Date.now();
    const occurrence = found.occurrence;
    if (now < Date.parse(occurrence.checkin_opens_at)) {
      return { ok: false, message: "Check-in has not opened for this class yet. It opens at " + clock(roster, occurrence.checkin_opens_at) + "." };
    }
    if (now > Date.parse(occurrence.checkin_closes_at)) return { ok: false, message: "Check-in for this class has closed." };
    return { ok: true, booking: booking, name: name };
  }

  function markIn(bookingId) {
    document.querySelectorAll('[data-booking="' + bookingId + '"]').forEach((row) => {
      const count = row.closest(".roster") && row.closest(".roster").querySelector("[data-count]");
      if (count && !row.classList.contains("in")) {
        count.textContent = count.textContent.replace(/^\d+/, (n) => String(Number(n) + 1));
      }
      row.classList.add("in");
      // The roster's "Check in <name>" button becomes a state, as on the server's page.
      const state = document.createElement("span");
      state.className = "small state";
      state.textContent = "checked in (to sync)";
      const old = row.querySelector("form.inline") || row.querySelector(".state");
      if (old) old.replaceWith(state);
    });
  }

  const saidKey = "sl-said-" + slug;
  const fromCache = document.documentElement.dataset.fromCache === "1";
  // Back online on the device's copy of the page: the real page, with what sync said.
  // (Only on the "online" event: a copy shown while the server is down must not loop.)
  function refreshPage(reload, message, ok) {
    if (!reload || !fromCache) return;
    if (message) sessionStorage.setItem(saidKey, JSON.stringify({ message: message, ok: ok }));
    location.reload();
  }

  async function sync(reload) {
    const items = queue();
    if (!navigator.onLine) return;
    if (!items.length) { refreshPage(reload); return; }
    try {
      const response = await fetch("/s/" + slug + "/staff/checkin/batch", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": scanner.dataset.csrf },
        body: JSON.stringify({
          device_id: device(),
          scans: items.map((item) => ({ nonce: item.nonce, code: item.code, scanned_at: item.scanned_at })),
        }),
      });
      if (!response.ok) return;
      const answer = await response.json();
      saveQueue([]);
      const refused = answer.results.filter((r) => r.result === "rejected");
      const message = "Synced " + answer.results.length + " offline scan(s)" +
        (refused.length ? "; " + refused.length + " refused: " + refused.map((r) => r.message || r.code).join(", ") : ".");
      say(message, !refused.length);
      await keepRoster();
      refreshPage(reload, message, !refused.length);
    } catch (error) { /* try again later */ }
  }

  form.addEventListener("submit", async (event) => {
    if (navigator.onLine) return; // the server checks it
    event.preventDefault();
    const code = input.value.trim();
    const verdict = await verifyOffline(code);
    if (!verdict.ok) { say(verdict.message, false); return; }
    const items = queue();
    items.push({ nonce: crypto.randomUUID(), code: code, scanned_at: new Date().toISOString(), booking_id: verdict.booking.booking_id });
    saveQueue(items);
    markIn(verdict.booking.booking_id);
    say(verdict.name + " is checked in (offline; will sync).", true);
    input.value = "";
    input.focus();
  });

  // The camera. A reader: BarcodeDetector, or jsQR on a canvas of the frame.
  function loadJsQR() {
    if (window.jsQR) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = JSQR_URL;
      script.onload = () => resolve();
      script.onerror = () => reject(new Error("jsQR did not load"));
      document.head.appendChild(script);
    });
  }
  async function makeReader(video) {
    if (hasDetector) {
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      return async () => {
        const codes = await detector.detect(video).catch(() => []);
        return codes.length ? codes[0].rawValue : null;
      };
    }
    await loadJsQR();
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    return async () => {
      if (!video.videoWidth) return null;
      const scale = Math.min(1, 640 / video.videoWidth); // enough pixels, little work
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      const image = context.getImageData(0, 0, canvas.width, canvas.height);
      const found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      return found && found.data ? found.data : null;
    };
  }

  const start = document.getElementById("camera-start");
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    start.hidden = false;
    let stream = null;
    const video = document.getElementById("camera-view");
    const stop = () => {
      if (stream) stream.getTracks().forEach((t) => t.stop());
      stream = null;
      document.getElementById("camera").hidden = true;
      start.hidden = false;
    };
    document.getElementById("camera-stop").addEventListener("click", stop);
    start.addEventListener("click", async () => {
      let read;
      try {
        read = await makeReader(video);
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      } catch (error) {
        say("The camera cannot be used here: type the code under the member's QR instead.", false);
        return;
      }
      video.srcObject = stream;
      await video.play();
      document.getElementById("camera").hidden = false;
      start.hidden = true;
      say("Point the camera at the member's code.", true);
      const look = async () => {
        if (!stream) return;
        const text = await read();
        if (text) {
          input.value = text;
          stop();
          form.requestSubmit();
          return;
        }
        setTimeout(look, 250);
      };
      look();
    });
    // Without a detector the reader is needed offline too: have the worker keep it now.
    if (!hasDetector && navigator.serviceWorker) {
      navigator.serviceWorker.ready.then((registration) => {
        if (registration.active) registration.active.postMessage({ type: "keep", urls: [JSQR_URL] });
      });
    }
  }

  window.addEventListener("online", () => sync(true));
  const said = JSON.parse(sessionStorage.getItem(saidKey) || "null");
  if (said) { sessionStorage.removeItem(saidKey); say(said.message, said.ok); }
  saveQueue(queue());
  queue().forEach((item) => item.booking_id && markIn(item.booking_id));
  keepRoster().then(() => sync(false));
})();
