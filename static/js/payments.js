// Payments: a button marked data-once is disabled right after its form is sent, so an impatient
// second tap does not send the form again (the server would reuse the same attempt anyway).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var buttons = form.querySelectorAll ? form.querySelectorAll("button[data-once]") : [];
    if (!buttons.length) { return; }
    // Disabled after the browser has read the form, so the pressed button's value is still sent.
    window.setTimeout(function () {
      buttons.forEach(function (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); });
    }, 0);
  });
  // Coming back with the browser's back button shows the page from cache: enable the buttons again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("button[data-once]").forEach(function (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    });
  });
})();
