// Tsudoi: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  function showAlert(message) {
    var box = document.getElementById("app-alert");
    if (!box) { return; }
    box.textContent = message;
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  }

  // htmx ignores 4xx/5xx answers by default; tell the member instead of doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 403) {
      showAlert("操作を受け付けられませんでした。ページを再読み込みしてから、もう一度お試しください。");
    } else if (status === 404) {
      showAlert("対象が見つかりませんでした。ページを再読み込みしてください。");
    } else if (status === 429) {
      showAlert("操作が続いたため、しばらくお待ちください。");
    } else {
      showAlert("エラーが発生しました。しばらくしてから、もう一度お試しください。");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    showAlert("通信できませんでした。電波の状況をご確認のうえ、もう一度お試しください。");
  });

  // Move focus to the error summary so screen readers announce it and the member sees it.
  function focusErrors(root) {
    var summary = (root || document).querySelector("[data-autofocus]");
    if (summary) { summary.focus(); }
  }
  document.addEventListener("DOMContentLoaded", function () { focusErrors(document); });
  document.addEventListener("htmx:afterSwap", function (event) { focusErrors(event.target); });

  // Caps Lock and IME hints on password fields. Caps Lock is only known from key events; text an IME,
  // a paste or autofill inserts may come without a key event, so the IME part also follows "input".
  var capsLockOn = new WeakMap();
  function updatePasswordHint(event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[data-password-hints]")) { return; }
    if (event.type === "keyup" && event.getModifierState) {
      capsLockOn.set(input, event.getModifierState("CapsLock"));
    }
    var hint = document.getElementById("caps-" + input.id);
    if (!hint) {
      hint = document.createElement("small");
      hint.id = "caps-" + input.id;
      hint.className = "field-error";
      hint.setAttribute("aria-live", "polite");
      input.insertAdjacentElement("afterend", hint);
    }
    var messages = [];
    if (capsLockOn.get(input)) { messages.push("Caps Lock がオンになっています。"); }
    if (/[^\x20-\x7e]/.test(input.value)) {
      messages.push("全角文字が含まれています。日本語入力（IME）がオンになっていないかご確認ください。");
    }
    hint.textContent = messages.join(" ");
  }
  document.addEventListener("keyup", updatePasswordHint);
  document.addEventListener("input", updatePasswordHint);

  // Forms marked data-unsaved-guard ask before the member leaves with unsaved edits.
  var dirtyForms = new Set();
  document.addEventListener("input", function (event) {
    var form = event.target.form;
    if (form && form.hasAttribute("data-unsaved-guard")) { dirtyForms.add(form); }
  });
  document.addEventListener("submit", function (event) { dirtyForms.delete(event.target); });
  window.addEventListener("beforeunload", function (event) {
    if (dirtyForms.size > 0) { event.preventDefault(); event.returnValue = ""; }
  });
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    if (dirtyForms.size === 0 || (elt.form && dirtyForms.has(elt.form)) || dirtyForms.has(elt)) { return; }
    if (event.detail.verb === "get" && !window.confirm("保存していない変更があります。このページを離れてもよろしいですか？")) {
      event.preventDefault();
    } else {
      dirtyForms.clear();
    }
  });
  // Buttons marked data-print print the page (recovery codes, a new account's login slip).
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-print]") : null;
    if (button) { window.print(); }
  });

  // My Page: the condition chips scroll sideways in their row; keep the selected one in view.
  function revealCurrentChips() {
    var rows = document.querySelectorAll(".view-tabs ul");
    for (var i = 0; i < rows.length; i++) {
      var chip = rows[i].querySelector("a[aria-current]");
      if (!chip) { continue; }
      var row = rows[i].getBoundingClientRect();
      var box = chip.getBoundingClientRect();
      rows[i].scrollLeft += box.left - row.left - (row.width - box.width) / 2;
    }
  }
  document.addEventListener("DOMContentLoaded", revealCurrentChips);
  document.addEventListener("htmx:afterSettle", revealCurrentChips);

  // An error shown beside a field describes what was sent. Once the member changes the field into something
  // the browser accepts, that old message goes (the server still checks everything on the next submit).
  document.addEventListener("input", function (event) {
    var input = event.target;
    // Only the member's own typing: scripts send input events too (profile.js marks a form unsaved).
    if (!event.isTrusted || !input || !input.closest || !input.name) { return; }
    var field = input.closest(".has-error");
    if (!field || (input.checkValidity && !input.checkValidity())) { return; }
    field.classList.remove("has-error");
    input.removeAttribute("aria-invalid");
    var messages = field.querySelectorAll(".field-error");
    for (var i = 0; i < messages.length; i++) { messages[i].textContent = ""; }
    var summary = document.getElementById("error-summary");
    var link = summary && summary.querySelector("a[href='#field-" + input.name + "']");
    if (link && link.parentNode) {
      link.parentNode.remove();
      if (!summary.querySelector("li")) { summary.hidden = true; }
    }
  });
})();
