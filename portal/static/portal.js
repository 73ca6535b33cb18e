// The passkey ceremony, and the download form's confirmation. Everything else works without
// this file: without it a download still works (the browser saves the file), it only misses
// the success banner with the receipt link.
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

  // The download: posted by fetch so that, once the file is saved, the school page can say so
  // (a partner's page too) with the receipt's link (the server names the ledger entry in X-Databook-Entry). A refused
  // form (an error by its field) replaces the page's main part and focuses the error summary.
  function fileName(disposition) {
    const utf = /filename\*=UTF-8''([^;]+)/i.exec(disposition || "");
    if (utf) { return decodeURIComponent(utf[1]); }
    const plain = /filename="([^"]+)"/i.exec(disposition || "");
    return plain ? plain[1] : "databook.xlsx";
  }

  // Where the form's owner lands: the school's page, or the partner's (data-home).
  const home = (form) => form.dataset.home || `/schools/${form.dataset.school}`;

  function downloads(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      let response;
      try {
        response = await fetch(form.action, {
          method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/x-www-form-urlencoded"},
          body: new URLSearchParams(new FormData(form)),
        });
      } catch (e) {
        submit.disabled = false;
        form.submit();  // nothing reached the portal: let the browser post the form itself
        return;
      }
      try {
        const entry = response.headers.get("X-Databook-Entry");
        if (response.ok && entry) {
          const url = URL.createObjectURL(await response.blob());
          const link = document.createElement("a");
          link.href = url;
          link.download = fileName(response.headers.get("Content-Disposition"));
          document.body.appendChild(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(url), 60000);
          window.location.assign(`${home(form)}?downloaded=${encodeURIComponent(entry)}`);
          return;
        }
        if (response.redirected) {  // signed out meanwhile: go where the portal sends us
          window.location.assign(response.url);
          return;
        }
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const main = page.querySelector("main");
        if (!main) { throw new Error("no page"); }
        document.title = page.title;
        document.querySelector("main").replaceWith(main);
        const again = document.getElementById("download-form");
        if (again) { downloads(again); }
        const summary = document.querySelector(".govuk-error-summary");
        const heading = summary || document.querySelector("main h1");
        if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
        // GOV.UK's components for the new part (the error summary's links move the focus)
        import("/static/govuk/govuk-frontend.min.js")
          .then((govuk) => govuk.initAll({scope: document.querySelector("main")}))
          .catch(() => {});
      } catch (e) {
        // The portal answered, but not as expected: never post twice (a download is recorded
        // each time); the school page lists what was recorded.
        window.location.assign(home(form));
      } finally {
        submit.disabled = false;
      }
    });
  }
  const downloadForm = document.getElementById("download-form");
  if (downloadForm) { downloads(downloadForm); }

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
