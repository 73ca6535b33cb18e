// The passkey ceremony: the only script the portal needs. Everything else works without it.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const unb64 = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")
    + "===".slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: body === undefined ? "{}" : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({error: "The portal did not answer."}));
    if (!response.ok) { throw new Error(data.error || "That did not work."); }
    return data;
  }

  // Encoded field by field: some browsers' (and test harnesses') toJSON() leave response empty.
  function encode(credential) {
    const r = credential.response;
    const out = {id: credential.id, rawId: b64(credential.rawId), type: credential.type,
                 clientExtensionResults: credential.getClientExtensionResults(),
                 response: {clientDataJSON: b64(r.clientDataJSON)}};
    if (r.attestationObject) {
      out.response.attestationObject = b64(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = b64(r.authenticatorData);
      out.response.signature = b64(r.signature);
      if (r.userHandle) { out.response.userHandle = b64(r.userHandle); }
    }
    if (credential.authenticatorAttachment) { out.authenticatorAttachment = credential.authenticatorAttachment; }
    return out;
  }

  async function register() {
    const options = await post("/enrol/passkey/options");
    options.challenge = unb64(options.challenge);
    options.user.id = unb64(options.user.id);
    (options.excludeCredentials || []).forEach((c) => { c.id = unb64(c.id); });
    const credential = await navigator.credentials.create({publicKey: options});
    return post("/enrol/passkey/verify", encode(credential));
  }

  async function signin() {
    const options = await post("/signin/passkey/options");
    options.challenge = unb64(options.challenge);
    (options.allowCredentials || []).forEach((c) => { c.id = unb64(c.id); });
    const credential = await navigator.credentials.get({publicKey: options});
    return post("/signin/passkey/verify", encode(credential));
  }

  const button = document.querySelector("[data-passkey]");
  if (!button) { return; }
  button.addEventListener("click", async () => {
    const error = document.getElementById("passkey-error");
    error.hidden = true;
    button.disabled = true;
    try {
      const result = await (button.dataset.passkey === "register" ? register() : signin());
      window.location.assign(result.next);
    } catch (e) {
      error.textContent = e.message || "The passkey did not work.";
      error.hidden = false;
      button.disabled = false;
    }
  });
})();
