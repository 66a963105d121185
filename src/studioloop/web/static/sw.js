// StudioLoop service worker: a member's bookings and check-in codes stay on the phone, so
// the code can be shown at the door with no signal (a power cut, a basement studio).
"use strict";

const VERSION = "studioloop-v1";
const STATIC = VERSION + "-static";
const PAGES = VERSION + "-pages";
const PRECACHE = ["/static/css/app.css", "/static/js/app.js", "/static/icons/icon.svg", "/offline"];
// Pages kept for offline use: the member's bookings (with their QR codes inline).
const KEEP = [/^\/my\/bookings(\/[0-9a-f-]+)?$/];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(STATIC).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => !k.startsWith(VERSION)).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "forget") event.waitUntil(caches.delete(PAGES));
});

function markFromCache(response) {
  // Tell the page it is the device's copy, so it reloads when the network is back.
  return response.text().then((html) =>
    new Response(html.replace("<html ", '<html data-from-cache="1" '), {
      headers: { "Content-Type": "text/html; charset=utf-8" },
    })
  );
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
    return;
  }
  if (request.mode !== "navigate") return;
  const keep = KEEP.some((pattern) => pattern.test(url.pathname));
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (keep && response.ok && !response.redirected) {
          const copy = response.clone();
          caches.open(PAGES).then((cache) => cache.put(url.pathname, copy));
        }
        return response;
      })
      .catch(() =>
        caches.match(url.pathname, { cacheName: PAGES }).then((hit) =>
          hit ? markFromCache(hit) : caches.match("/offline").then((page) => page || Response.error())
        )
      )
  );
});
