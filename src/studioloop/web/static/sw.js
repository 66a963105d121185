// StudioLoop service worker: a member's bookings and check-in codes stay on the phone, so
// the code can be shown at the door with no signal (a power cut, a basement studio); and
// the door page stays on the staff's phone, so people can be checked in without one.
"use strict";

const VERSION = "studioloop-v2";
const STATIC = VERSION + "-static";
const PAGES = VERSION + "-pages";
const PRECACHE = [
  "/static/css/app.css", "/static/js/app.js", "/static/js/checkin.js", "/static/icons/icon.svg", "/offline",
];
// Pages kept for offline use: the member's bookings (with their QR codes inline), and the
// door page (its roster and verification key are kept by checkin.js).
const KEEP = [/^\/my\/bookings(\/[0-9a-f-]+)?$/, /^\/s\/[^/]+\/staff\/checkin$/];
// Files whose name carries their version: never fetched again once kept.
// Files whose name changes with their content (web/static_files.py): a kept copy is final.
const IMMUTABLE = /^\/static\/(vendor\/|.+\.[0-9a-f]{12}\.[A-Za-z0-9]+$)/;

function keepable(pathname) {
  return KEEP.some((pattern) => pattern.test(pathname));
}

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

function keepPage(pathname, response) {
  // Not a redirect (to the sign-in form, when signed out meanwhile), nor an error page.
  if (!keepable(pathname) || !response.ok || response.redirected) return Promise.resolve();
  return caches.open(PAGES).then((cache) => cache.put(pathname, response));
}

// A page opened before this worker controlled it (the very first visit, or a link from an
// email) never went through the fetch handler below: app.js asks for it to be kept here,
// and for the page's static files; checkin.js asks for the QR reader it may need offline.
async function keep(urls) {
  const statics = await caches.open(STATIC);
  for (const raw of urls) {
    const url = new URL(raw, self.location.origin);
    if (url.origin !== self.location.origin) continue;
    try {
      if (url.pathname.startsWith("/static/")) {
        if (!(await statics.match(url.pathname))) {
          const response = await fetch(url.pathname);
          if (response.ok) await statics.put(url.pathname, response);
        }
      } else if (keepable(url.pathname)) {
        await keepPage(url.pathname, await fetch(url.pathname, { credentials: "same-origin" }));
      }
    } catch (error) { /* offline: nothing to keep */ }
  }
}

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "forget") event.waitUntil(caches.delete(PAGES));
  if (data.type === "keep" && Array.isArray(data.urls)) event.waitUntil(keep(data.urls));
});

function markFromCache(response) {
  // Tell the page it is the device's copy, so it reloads when the network is back.
  return response.text().then((html) =>
    new Response(html.replace("<html ", '<html data-from-cache="1" '), {
      headers: { "Content-Type": "text/html; charset=utf-8" },
    })
  );
}

// Static files: the kept copy at once (they load offline), refreshed behind it.
function staticFile(event, url) {
  return caches.open(STATIC).then((cache) =>
    cache.match(url.pathname).then((hit) => {
      if (hit && IMMUTABLE.test(url.pathname)) return hit;
      const fresh = fetch(event.request).then((response) => {
        if (response.ok && !url.search) cache.put(url.pathname, response.clone());
        return response;
      });
      if (!hit) return fresh;
      event.waitUntil(fresh.catch(() => undefined));
      return hit;
    })
  );
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(staticFile(event, url));
    return;
  }
  if (request.mode !== "navigate") return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        event.waitUntil(keepPage(url.pathname, response.clone()));
        return response;
      })
      .catch(() =>
        caches.match(url.pathname, { cacheName: PAGES }).then((hit) =>
          hit ? markFromCache(hit) : caches.match("/offline").then((page) => (page ? markFromCache(page) : Response.error()))
        )
      )
  );
});
