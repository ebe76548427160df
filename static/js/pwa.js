// The installable app: registers the service worker (static/sw.js, served at /sw.js), offers to add
// My Page to the home screen, and keeps the membership card cache to the member who is signed in.
(function () {
  "use strict";

  var CARD_CACHE = "tsudoi-card";
  var HINT_KEY = "tsudoi-install-hint";

  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js").catch(function () { /* the site works without it */ });
    });
  }

  // Signed out, the card kept for offline use goes: on the logout itself and on any page shown to nobody
  // signed in (base.html marks those; the offline page is not one of them).
  function forgetCard() {
    if (window.caches) { caches.delete(CARD_CACHE).catch(function () {}); }
  }
  document.addEventListener("submit", function (event) {
    if (event.target.getAttribute && event.target.getAttribute("action") === "/logout") { forgetCard(); }
  });
  if (document.body && document.body.hasAttribute("data-signed-out")) { forgetCard(); }

  // The card page: say when it is the copy kept offline, and refresh it when the network is back.
  var offlineNote = document.getElementById("card-offline-note");
  if (offlineNote) {
    if (!navigator.onLine) { offlineNote.hidden = false; }
    // The connection can flap (Chromium fires "online" and "offline" again when a navigation away starts),
    // so reload only once it has stayed up a moment, and never over the member's own navigation.
    var leaving = false;
    window.addEventListener("beforeunload", function () { leaving = true; });
    window.addEventListener("pageshow", function () { leaving = false; });
    window.addEventListener("online", function () {
      setTimeout(function () {
        if (navigator.onLine && !leaving) { window.location.reload(); }
      }, 1000);
    });
    window.addEventListener("offline", function () { offlineNote.hidden = false; });
  }

  // The install hint on My Page: the browser's own prompt where there is one (Android), the steps for
  // Safari on iPhone and iPad where there is none; never once installed, dismissed or on a desktop.
  var hint = document.getElementById("install-hint");
  if (!hint) { return; }
  function dismissed() {
    try {
      return localStorage.getItem(HINT_KEY) === "never" || sessionStorage.getItem(HINT_KEY) === "later";
    } catch (error) { return false; }
  }
  function remember(store, value) {
    try { store.setItem(HINT_KEY, value); } catch (error) { /* private mode: asked again next time */ }
  }
  function hide() { hint.hidden = true; }
  var standalone = window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
  if (standalone || dismissed()) { return; }
  var installPrompt = null;
  var acceptButton = hint.querySelector("[data-install-accept]");
  window.addEventListener("beforeinstallprompt", function (event) {
    if (!window.matchMedia("(pointer: coarse)").matches) { return; }
    event.preventDefault();
    installPrompt = event;
    acceptButton.hidden = false;
    hint.hidden = false;
  });
  var ios = /iPhone|iPad|iPod/.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  if (ios) {
    hint.querySelector("[data-install-ios]").hidden = false;
    hint.hidden = false;
  }
  acceptButton.addEventListener("click", function () {
    if (!installPrompt) { return; }
    installPrompt.prompt();
    installPrompt.userChoice.then(hide, hide);
    installPrompt = null;
  });
  hint.querySelector("[data-install-later]").addEventListener("click", function () {
    remember(sessionStorage, "later");
    hide();
  });
  hint.querySelector("[data-install-never]").addEventListener("click", function () {
    remember(localStorage, "never");
    hide();
  });
  window.addEventListener("appinstalled", hide);
})();
