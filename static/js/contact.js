// Contact form: say at once when a screenshot is too big or not an image (the server checks again),
// show the leaving note for 退会のご希望, and the print button of the printable contact card.
(function () {
  "use strict";

  var TOO_BIG = "画像のファイルサイズが5MBを超えています。5MB以下の画像を選んでください（スクリーンショットの範囲を小さくすると軽くなります）。";
  var WRONG_TYPE = "添付できるのはPNGまたはJPEG形式の画像だけです。画面のスクリーンショットを選んでください。";

  function fileProblem(form) {
    var input = form.querySelector("input[type=file][name=attachment]");
    if (!input || !input.files || input.files.length === 0) { return null; }
    var file = input.files[0];
    var limit = parseInt(form.getAttribute("data-max-bytes"), 10) || 5242880;
    if (file.size > limit) { return TOO_BIG; }
    if (file.type && file.type !== "image/png" && file.type !== "image/jpeg") { return WRONG_TYPE; }
    return null;
  }

  function showFileError(form, message) {
    var input = form.querySelector("input[type=file][name=attachment]");
    var error = document.getElementById("error-attachment");
    if (!input || !error) { return; }
    error.textContent = message || "";
    if (message) {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = target.closest ? target.closest("form[data-contact-form]") : null;
    if (!form) { return; }
    if (target.name === "attachment") {
      showFileError(form, fileProblem(form));
    }
    if (target.name === "category") {
      var note = document.getElementById("leaving-note");
      if (note) { note.hidden = target.value !== "leaving"; }
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-contact-form]")) { return; }
    var problem = fileProblem(form);
    if (problem) {
      event.preventDefault();
      showFileError(form, problem);
      var input = form.querySelector("input[type=file][name=attachment]");
      if (input) { input.focus(); }
      return;
    }
    var button = form.querySelector("button[type=submit]");
    if (button) {
      // One press is enough: a second one while a large screenshot uploads would send it twice.
      window.setTimeout(function () { button.disabled = true; button.textContent = "送信しています…"; }, 0);
    }
  });

  // Coming back with the browser's back button must not leave the button disabled.
  window.addEventListener("pageshow", function () {
    var buttons = document.querySelectorAll("form[data-contact-form] button[type=submit]");
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = false; buttons[i].textContent = "送信する"; }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-print-button]") : null;
    if (button) { window.print(); }
  });
})();
