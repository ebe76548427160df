// Profile (会員情報): a form shown again after an error or a stale save still holds input that was
// not saved, so the leave-page guard in app.js must treat it as edited from the start.
(function () {
  "use strict";

  function markUnsaved() {
    var forms = document.querySelectorAll("form[data-unsaved-guard][data-unsaved]");
    Array.prototype.forEach.call(forms, function (form) {
      // Any plain field will do; the postal-code field would also start a lookup.
      var input = form.querySelector("input:not([type=hidden]):not([data-hx-get])");
      if (input) { input.dispatchEvent(new Event("input", { bubbles: true })); }
    });
  }

  document.addEventListener("DOMContentLoaded", markUnsaved);
  document.addEventListener("htmx:afterSettle", markUnsaved);
})();
