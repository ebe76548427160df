// Tsudoi's service worker: the app shell offline, and the membership card after one visit.
// Served at /sw.js (scope "/") by routes/pwa.py, which fills in the version and the shell's files;
// a new static version installs a new worker and drops the old shell cache.
"use strict";

var VERSION = "__VERSION__";
var SHELL_CACHE = "tsudoi-shell-" + VERSION;
// The only page with personal data kept on the device; emptied when the member signs out.
var CARD_CACHE = "tsudoi-card";
var SHELL_FILES = __SHELL_FILES__;
var OFFLINE_PAGE = "/offline";
var CARD_PAGE = "/card";

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL_CACHE).then(function (cache) {
      return cache.addAll(SHELL_FILES);
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("tsudoi-shell-") === 0 && name !== SHELL_CACHE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function offlinePage() {
  return caches.match(OFFLINE_PAGE, { cacheName: SHELL_CACHE }).then(function (page) {
    return page || new Response("オフラインです。", {
      status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" }
    });
  });
}

// The card: always fresh when online; the last copy when not. Signed out (a redirect to the login
// screen) empties the cache, so the next person on this phone never sees it.
function cardFirstFromNetwork(request) {
  return fetch(request).then(function (response) {
    var answer = function () { return response; };
    // The page shows only once its copy is stored, so a sign-out right after can never be overtaken by a
    // late write that would bring the card back.
    if (response.ok && !response.redirected && response.type === "basic") {
      var copy = response.clone();
      return caches.open(CARD_CACHE).then(function (cache) { return cache.put(CARD_PAGE, copy); }).then(answer, answer);
    }
    if (response.redirected || response.type === "opaqueredirect") {
      return caches.delete(CARD_CACHE).then(answer, answer);
    }
    return response;
  }, function () {
    return caches.match(CARD_PAGE, { cacheName: CARD_CACHE }).then(function (card) {
      return card || offlinePage();
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate") {
    if (url.pathname === CARD_PAGE) {
      event.respondWith(cardFirstFromNetwork(request));
    } else {
      // Member pages are never stored: the network, or the offline page.
      event.respondWith(fetch(request).catch(offlinePage));
    }
    return;
  }
  // Versioned static files and icons: the shell cache first (they never change under one URL).
  if (url.pathname.indexOf("/static/") === 0 || url.pathname.indexOf("/icons/") === 0) {
    event.respondWith(
      caches.match(request).then(function (hit) {
        return hit || fetch(request).then(function (response) {
          if (response.ok && url.search) {
            var copy = response.clone();
            caches.open(SHELL_CACHE).then(function (cache) { cache.put(request, copy); });
          }
          return response;
        });
      })
    );
  }
});
