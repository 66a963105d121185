// StudioLoop pages work without this file; it adds the installable app's extras:
// the service worker (bookings and their check-in codes offline), an offline banner,
// and live spot counts on timetables.
"use strict";

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => {});
  // A page this worker did not serve (the first visit, a link from an email) is kept by
  // asking for it, with its styles and scripts: the worker keeps only the pages it may.
  if (!navigator.serviceWorker.controller && navigator.onLine) {
    navigator.serviceWorker.ready.then((registration) => {
      const files = Array.from(document.querySelectorAll("script[src], link[rel=stylesheet]"), (el) => el.src || el.href);
      if (registration.active) registration.active.postMessage({ type: "keep", urls: [location.pathname].concat(files) });
    });
  }
}

function showConnection() {
  const banner = document.getElementById("offline-banner");
  if (banner) banner.hidden = navigator.onLine;
}
window.addEventListener("offline", showConnection);
window.addEventListener("online", () => {
  showConnection();
  // Back online: a page shown from the device's copy is refreshed with the real one (the
  // door page does it itself, once its offline scans are sent).
  const fromCache = document.documentElement.dataset.fromCache === "1";
  if (fromCache && !document.querySelector("[data-reloads-itself]")) location.reload();
});
document.addEventListener("DOMContentLoaded", () => {
  showConnection();
  // Signing out forgets the bookings, the door page and its rosters kept on this device.
  document.querySelectorAll('form[action="/logout"]').forEach((form) =>
    form.addEventListener("submit", () => {
      if (navigator.serviceWorker && navigator.serviceWorker.controller) {
        navigator.serviceWorker.controller.postMessage({ type: "forget" });
      }
      Object.keys(localStorage).filter((k) => k.startsWith("sl-roster-")).forEach((k) => localStorage.removeItem(k));
    })
  );
  refreshSpots();
  setInterval(refreshSpots, 30000);
  offerLocation();
});

// The marketplace search: fill in the coordinates from the browser and search. The form
// works without it (by place name, where the operator has a geocoder).
function offerLocation() {
  const button = document.querySelector("[data-locate]");
  if (!button || !navigator.geolocation) return;
  const form = button.closest("form");
  const status = document.getElementById("locate-status");
  button.hidden = false;
  button.addEventListener("click", () => {
    status.textContent = "Finding where you are…";
    navigator.geolocation.getCurrentPosition(
      (position) => {
        form.querySelector("#lat").value = position.coords.latitude.toFixed(5);
        form.querySelector("#lng").value = position.coords.longitude.toFixed(5);
        form.querySelector("#near").value = "";
        form.submit();
      },
      () => {
        status.textContent = "Your location is not available; type a place instead.";
      },
      { timeout: 10000, maximumAge: 600000 }
    );
  });
  // Typing a place replaces a location shared before.
  form.querySelector("#near").addEventListener("input", () => {
    form.querySelector("#lat").value = "";
    form.querySelector("#lng").value = "";
  });
}

function spotsText(item) {
  if (item.status === "cancelled") return "Cancelled";
  if (item.available_spots <= 0) return "Full · waitlist open";
  return item.available_spots + (item.available_spots === 1 ? " spot left" : " spots left");
}

async function refreshSpots() {
  const holder = document.querySelector("[data-spots-url]");
  if (!holder || !navigator.onLine) return;
  try {
    const response = await fetch(holder.dataset.spotsUrl, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const page = await response.json();
    for (const item of page.items || [page]) {
      document.querySelectorAll('[data-occurrence="' + item.id + '"]').forEach((el) => {
        el.textContent = spotsText(item);
      });
    }
  } catch (error) {
    /* offline or the server is busy: keep what is shown */
  }
}

// "Copy" buttons (data-copy = the id of the field holding the text): to the clipboard,
// or, where the browser refuses, selected so a long press or Ctrl+C copies it.
document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const said = document.getElementById(button.dataset.copy + "-copied");
  if (!source) return;
  const done = (words) => { if (said) said.textContent = words; };
  source.focus();
  source.select();
  const fallback = () => {
    let copied = false;
    try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
    done(copied ? "Copied." : "Selected: press Ctrl+C (or ⌘C) to copy.");
  };
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(source.value).then(() => done("Copied."), fallback);
  } else {
    fallback();
  }
});
