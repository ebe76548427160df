// Password forms: the readings toggle (パスワードの読み) and "show password", client-side only.
// The readings table comes from the server (services/readings.py) in a data attribute: CSP forbids inline scripts.
(function () {
  "use strict";

  var table = null;

  function readingsTable(panel) {
    if (table === null) {
      try { table = JSON.parse(panel.getAttribute("data-readings") || "{}"); } catch (error) { table = {}; }
    }
    return table;
  }

  // Mirrors services.readings.reading_of for what a member can type into the field.
  function readingOf(ch, known) {
    if (Object.prototype.hasOwnProperty.call(known, ch)) { return known[ch]; }
    var folded = ch.normalize ? ch.normalize("NFKC") : ch;
    if (folded !== ch && Object.prototype.hasOwnProperty.call(known, folded)) {
      var base = known[folded];
      return base.charAt(base.length - 1) === ")" ? base.slice(0, -1) + "・全角)" : base + "(全角)";
    }
    if (/[\u3040-\u309f]/.test(ch)) { return ch + "(ひらがな)"; }
    if (/[\u30a0-\u30ff]/.test(ch)) { return ch + "(カタカナ)"; }
    if (/[\u4e00-\u9fff]/.test(ch)) { return ch + "(漢字)"; }
    return ch + "(記号)";
  }

  function render(panel) {
    var input = document.getElementById(panel.getAttribute("data-readings-for"));
    var list = panel.querySelector(".readings-list");
    var empty = panel.querySelector(".readings-empty");
    if (!input || !list) { return; }
    var known = readingsTable(panel);
    var chars = Array.from(input.value);
    list.textContent = "";
    chars.forEach(function (ch, index) {
      var item = document.createElement("li");
      var position = document.createElement("span");
      position.className = "reading-position";
      position.textContent = (index + 1) + "文字目";
      var shown = document.createElement("span");
      shown.className = "reading-char";
      shown.textContent = ch === " " ? "␣" : ch;
      var reading = document.createElement("span");
      reading.className = "reading-text";
      reading.textContent = readingOf(ch, known);
      item.appendChild(position);
      item.appendChild(shown);
      item.appendChild(reading);
      list.appendChild(item);
    });
    if (empty) { empty.hidden = chars.length > 0; }
  }

  function setUp(root) {
    root.querySelectorAll("[data-readings-toggle]").forEach(function (button) {
      if (button.dataset.ready) { return; }
      button.dataset.ready = "1";
      var panel = document.getElementById(button.getAttribute("aria-controls"));
      if (!panel) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var show = button.getAttribute("aria-pressed") !== "true";
        button.setAttribute("aria-pressed", show ? "true" : "false");
        button.textContent = show ? "読みを隠す" : "読みを表示";
        panel.hidden = !show;
        if (show) { render(panel); }
      });
    });
    // The login page's 「パスワードを表示」: a toggle button (aria-pressed) for the field it controls.
    root.querySelectorAll("[data-password-visibility]").forEach(function (button) {
      if (button.dataset.ready) { return; }
      button.dataset.ready = "1";
      var field = document.getElementById(button.getAttribute("aria-controls"));
      if (!field) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var show = button.getAttribute("aria-pressed") !== "true";
        button.setAttribute("aria-pressed", show ? "true" : "false");
        field.type = show ? "text" : "password";
      });
      // Sent as a password field, so the browser never files it among ordinary text entries.
      if (field.form) {
        field.form.addEventListener("submit", function () {
          field.type = "password";
          button.setAttribute("aria-pressed", "false");
        });
      }
    });
    root.querySelectorAll("[data-show-password]").forEach(function (label) {
      if (label.dataset.ready) { return; }
      label.dataset.ready = "1";
      label.hidden = false;
      var box = label.querySelector("input");
      var form = label.closest("form");
      if (!box || !form) { return; }
      box.addEventListener("change", function () {
        form.querySelectorAll("input[data-password-field]").forEach(function (field) {
          field.type = box.checked ? "text" : "password";
        });
      });
    });
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (!target || !target.id) { return; }
    document.querySelectorAll("[data-readings-for='" + target.id + "']").forEach(function (panel) {
      if (!panel.hidden) { render(panel); }
    });
  });

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  // A refused submit swaps the form in again (htmx); wire up the new copy.
  document.addEventListener("htmx:afterSwap", function (event) { setUp(event.target.ownerDocument || document); });
})();
