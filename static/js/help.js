// Help page: the search box filters the questions in place as the member types. Without this file the
// same box submits to /help?q=… and the server hides what does not match.
(function () {
  "use strict";

  // Same rules as services/help.py normalize_search: NFKC, lower case, hiragana as katakana.
  function normalize(text) {
    var value = (text || "").normalize("NFKC").toLowerCase();
    var out = "";
    for (var i = 0; i < value.length; i++) {
      var code = value.charCodeAt(i);
      out += (code >= 0x3041 && code <= 0x3096) ? String.fromCharCode(code + 0x60) : value.charAt(i);
    }
    return out.replace(/\s+/g, " ").trim();
  }

  function filter(form) {
    var input = form.querySelector("input[name=q]");
    var raw = input ? input.value : "";
    var words = normalize(raw).split(" ").filter(function (w) { return w.length > 0; });
    var entries = document.querySelectorAll("[data-help-entry]");
    var shown = 0;
    for (var i = 0; i < entries.length; i++) {
      var haystack = entries[i].getAttribute("data-search") || "";
      var ok = words.every(function (w) { return haystack.indexOf(w) !== -1; });
      entries[i].hidden = !ok;
      if (ok) { shown++; }
    }
    var sections = document.querySelectorAll("[data-help-section]");
    for (var j = 0; j < sections.length; j++) {
      sections[j].hidden = sections[j].querySelector("[data-help-entry]:not([hidden])") === null;
    }
    for (var k = 0; k < entries.length; k++) {
      // A few matches are opened so the answer shows without another tap.
      entries[k].open = words.length > 0 && !entries[k].hidden && shown <= 3;
    }
    var status = document.getElementById("help-status");
    if (status) {
      status.textContent = words.length ? "「" + raw.trim() + "」に当てはまる質問：" + shown + "件" : "";
    }
    var empty = document.getElementById("help-empty");
    if (empty) { empty.hidden = !(words.length && shown === 0); }
    if (window.history && window.history.replaceState) {
      var url = words.length ? "/help?q=" + encodeURIComponent(raw.trim()) : "/help";
      window.history.replaceState(null, "", url);
    }
  }

  document.addEventListener("input", function (event) {
    var form = event.target.form;
    if (form && form.hasAttribute("data-help-search")) { filter(form); }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute && form.hasAttribute("data-help-search")) {
      event.preventDefault();
      filter(form);
    }
  });
})();
