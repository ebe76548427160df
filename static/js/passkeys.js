// Passkeys (WebAuthn): adding one, signing in with one (button and autofill), the admin's second factor,
// the confirmation before removing one, and the offer after a password sign-in. The server sends options
// as JSON with base64url for binary fields; the browser API wants ArrayBuffers, so both ways are converted.
(function () {
  "use strict";
  if (window.tsudoiPasskeys) { return; }
  window.tsudoiPasskeys = true;

  var supported = !!(window.PublicKeyCredential && navigator.credentials && window.fetch);

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("data-hx-headers") || "{}")["x-csrftoken"] || "";
    } catch (error) {
      return "";
    }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "x-csrftoken": csrfToken() },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok || data.ok === false) {
          var message = data.error || (response.status === 403
            ? "操作を受け付けられませんでした。ページを再読み込みしてから、もう一度お試しください。"
            : "エラーが発生しました。しばらくしてから、もう一度お試しください。");
          var failure = new Error(message);
          failure.field = data.field;
          failure.fromServer = true;
          throw failure;
        }
        return data;
      });
    });
  }

  function creationOptions(options) {
    var publicKey = Object.assign({}, options);
    publicKey.challenge = toBuffer(options.challenge);
    publicKey.user = Object.assign({}, options.user, { id: toBuffer(options.user.id) });
    publicKey.excludeCredentials = (options.excludeCredentials || []).map(function (item) {
      return Object.assign({}, item, { id: toBuffer(item.id) });
    });
    return publicKey;
  }

  function requestOptions(options) {
    var publicKey = Object.assign({}, options);
    publicKey.challenge = toBuffer(options.challenge);
    publicKey.allowCredentials = (options.allowCredentials || []).map(function (item) {
      return Object.assign({}, item, { id: toBuffer(item.id) });
    });
    return publicKey;
  }

  function attestationJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: {
        clientDataJSON: toText(response.clientDataJSON),
        attestationObject: toText(response.attestationObject),
        transports: response.getTransports ? response.getTransports() : []
      }
    };
  }

  function assertionJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: {
        clientDataJSON: toText(response.clientDataJSON),
        authenticatorData: toText(response.authenticatorData),
        signature: toText(response.signature),
        userHandle: toText(response.userHandle)
      }
    };
  }

  // A cancelled prompt is not an error worth a red message; everything else says what to do next.
  function browserMessage(error) {
    if (error && error.fromServer) { return error.message; }
    if (error && error.name === "NotAllowedError") { return "パスキーの確認が取り消されたか、時間切れになりました。もう一度お試しください。"; }
    if (error && error.name === "InvalidStateError") { return "この端末のパスキーはすでに登録されています。"; }
    return "パスキーを使えませんでした。会員番号とパスワードでログインしてください。";
  }

  // The server names the next page; one that differs only by its #fragment must still be loaded again.
  function go(url) {
    var link = document.createElement("a");
    link.href = url;
    if (link.pathname === window.location.pathname && link.search === window.location.search) {
      window.location.hash = link.hash;
      window.location.reload();
    } else {
      window.location.assign(url);
    }
  }

  function showError(target, message) {
    if (target) { target.textContent = message; }
  }

  function unhide(root) {
    root.querySelectorAll("[data-passkey-only]").forEach(function (element) { element.hidden = false; });
    root.querySelectorAll("[data-passkey-unsupported]").forEach(function (element) { element.hidden = true; });
  }

  // Adding a passkey (/settings/security).
  function setUpRegister(form) {
    unhide(form);
    var input = form.querySelector("input[name=name]");
    var error = document.getElementById("error-name");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      showError(error, "");
      var name = input ? input.value : "";
      post("/passkeys/register/options", { name: name })
        .then(function (options) { return navigator.credentials.create({ publicKey: creationOptions(options) }); })
        .then(function (credential) {
          return post("/passkeys/register/verify", { name: name, credential: attestationJSON(credential) });
        })
        .then(function (data) { go(data.redirect); })
        .catch(function (failure) {
          showError(error, browserMessage(failure));
          button.disabled = false;
        });
    });
  }

  function assert(purpose, extra, mediation, signal) {
    return post("/passkeys/login/options", { purpose: purpose }).then(function (options) {
      var request = { publicKey: requestOptions(options) };
      if (mediation) { request.mediation = mediation; }
      if (signal) { request.signal = signal; }
      return navigator.credentials.get(request);
    }).then(function (credential) {
      var body = Object.assign({ purpose: purpose, credential: assertionJSON(credential) }, extra || {});
      return post("/passkeys/login/verify", body);
    });
  }

  // Sign-in from /login: the button, and the browser's autofill on the member-number field.
  function setUpLogin(box) {
    unhide(box);
    var button = box.querySelector("[data-passkey-login]");
    var error = box.querySelector("[data-passkey-error]");
    var form = document.querySelector("form[action='/login']");
    var autofill = null;
    function extra() {
      var remember = form && form.querySelector("input[name=remember]");
      var next = form && form.querySelector("input[name=next]");
      return { remember: !!(remember && remember.checked), next: next ? next.value : "" };
    }
    button.addEventListener("click", function () {
      if (autofill) { autofill.abort(); autofill = null; }
      button.disabled = true;
      showError(error, "");
      assert("login", extra())
        .then(function (data) { go(data.redirect); })
        .catch(function (failure) {
          showError(error, browserMessage(failure));
          button.disabled = false;
        });
    });
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available) { return; }
        autofill = new AbortController();
        assert("login", extra(), "conditional", autofill.signal)
          .then(function (data) { go(data.redirect); })
          .catch(function (failure) {
            if (failure && failure.name === "AbortError") { return; }
            if (failure && failure.fromServer) { showError(error, failure.message); }
          });
      });
    }
  }

  // The admin's second factor (/mfa) and the confirmation before removing a passkey.
  function setUpStep(box, purpose) {
    unhide(box);
    var button = box.querySelector("button");
    var error = box.querySelector("[data-passkey-error]");
    button.addEventListener("click", function () {
      button.disabled = true;
      showError(error, "");
      assert(purpose, { next: box.getAttribute("data-next") || "" })
        .then(function (data) { go(data.redirect); })
        .catch(function (failure) {
          showError(error, browserMessage(failure));
          button.disabled = false;
        });
    });
  }

  function start() {
    if (!supported) { return; }
    var form = document.querySelector("[data-passkey-register]");
    if (form) { setUpRegister(form); }
    var login = document.querySelector("[data-passkey-login-box]");
    if (login) { setUpLogin(login); }
    var mfa = document.querySelector("[data-passkey-mfa]");
    if (mfa) { setUpStep(mfa, "mfa"); }
    var reauth = document.querySelector("[data-passkey-reauth]");
    if (reauth) { setUpStep(reauth, "reauth"); }
    var offer = document.querySelector("[data-passkey-offer]");
    if (offer && PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable) {
      PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable().then(function (available) {
        if (available) { offer.hidden = false; }
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
