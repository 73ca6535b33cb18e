// Look up one pupil (issue 21; shared/design/lookup.md). The school password stays in this tab:
// the keys are derived here with WebCrypto, the portal gets only a blind token and a reason,
// and the one sealed row it returns is opened here. Mirrors publish/lookup_bundle.py exactly.
"use strict";
(function () {
  const DOMAIN = "databook lookup v1";
  const enc = new TextEncoder();
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
  const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const DROPPED = /[\s\-\u2010\u2011\u2012\u2013\u2014'\u2018\u2019\u02bc`]+/gu;

  // NFKC, full case folding (upper then lower case, final sigma folded), then spaces,
  // hyphens and apostrophes dropped: as publish.lookup_bundle.normalise.
  function normalise(text) {
    return text.normalize("NFKC").toUpperCase().toLowerCase().replace(/\u03c2/g, "\u03c3")
      .replace(DROPPED, "");
  }

  // root = PBKDF2-HMAC-SHA256(password, salt, iterations); three HKDF-SHA256 keys from it.
  async function deriveBytes(password, saltB64, iterations) {
    const base = await crypto.subtle.importKey("raw", enc.encode(password), "PBKDF2", false, ["deriveBits"]);
    const root = await crypto.subtle.deriveBits(
      {name: "PBKDF2", hash: "SHA-256", salt: unb64(saltB64), iterations: iterations}, base, 256);
    const hk = await crypto.subtle.importKey("raw", root, "HKDF", false, ["deriveBits"]);
    const sub = (info) => crypto.subtle.deriveBits(
      {name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: enc.encode(info)}, hk, 256);
    const [index, rows, check] = await Promise.all([
      sub("databook lookup index v1"), sub("databook lookup rows v1"), sub("databook lookup check v1")]);
    return {index: index, rows: rows, check: check};
  }

  async function importKeys(raw) {
    const mac = (bytes) => crypto.subtle.importKey("raw", bytes, {name: "HMAC", hash: "SHA-256"}, false, ["sign"]);
    return {index: await mac(raw.index), check: await mac(raw.check),
            rows: await crypto.subtle.importKey("raw", raw.rows, "AES-GCM", false, ["decrypt"])};
  }

  const sign = async (key, text) => hex(await crypto.subtle.sign("HMAC", key, enc.encode(text)));
  const upnToken = (keys, upn) => sign(keys.index, "upn:" + normalise(upn));
  const nameToken = (keys, surname, dob) => sign(keys.index, "name:" + normalise(surname) + ":" + dob);
  const checkValue = (keys, urn, runId) => sign(keys.check, DOMAIN + "\n" + urn + "\n" + runId);

  // The row's plaintext object; throws (an OperationError) when the tag does not check out.
  async function openRow(keys, urn, runId, rowId, sealed) {
    const data = unb64(sealed);
    const plain = await crypto.subtle.decrypt(
      {name: "AES-GCM", iv: data.slice(0, 12),
       additionalData: enc.encode(DOMAIN + "\n" + urn + "\n" + runId + "\n" + rowId)},
      keys.rows, data.slice(12));
    return JSON.parse(new TextDecoder().decode(plain));
  }

  window.DatabookLookup = {normalise, deriveBytes, importKeys, upnToken, nameToken, checkValue, openRow};

  const root = document.getElementById("lookup");
  if (!root) { return; }
  const header = JSON.parse(root.dataset.header);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const message = $("lookup-message");
  let keys = null;

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? "error" : "";
  }

  const shown = (value, kind) => value === null ? "" :
    (kind === "date" && /^\d{4}-\d{2}-\d{2}$/.test(value)) ? value.slice(8) + "/" + value.slice(5, 7) + "/" + value.slice(0, 4) : String(value);

  function show(opened) {
    const table = $("result");
    const body = table.querySelector("tbody");
    body.replaceChildren();
    opened.rows.forEach((row) => {
      header.columns.forEach((column, i) => {
        const tr = document.createElement("tr");
        const th = document.createElement("th");
        const td = document.createElement("td");
        th.textContent = column.label;
        td.textContent = shown(row[i], column.kind);
        tr.append(th, td);
        body.append(tr);
      });
    });
    $("result-as-at").textContent = "Data as at " + shown(header.as_at, "date");
    table.hidden = false;
  }

  async function post(url, payload) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(payload)});
    const data = await response.json().catch(() => ({error: "The look-up did not work. Reload the page."}));
    return {ok: response.ok, data: data};
  }

  async function unlock() {
    const error = $("password-error");
    error.hidden = true;
    $("unlock").disabled = true;
    try {
      const candidate = await importKeys(await deriveBytes($("school-password").value, header.salt, header.iterations));
      if (await checkValue(candidate, header.urn, header.run_id) !== header.check) {
        error.textContent = "That is not your school's password. Nothing was sent or recorded.";
        error.hidden = false;
        return;
      }
      keys = candidate;
      $("school-password").value = "";
      $("password-step").hidden = true;
      $("lookup-step").hidden = false;
    } finally {
      $("unlock").disabled = false;
    }
  }

  async function lookUp() {
    $("result").hidden = true;
    const upn = $("upn").value.trim();
    const surname = $("surname").value.trim();
    const dob = $("dob").value;
    const reason = document.querySelector('input[name="reason"]:checked');
    if (!upn && !(surname && dob)) { say("Give a UPN, or a surname and a date of birth.", true); return; }
    if (!reason) { say("Choose a reason from the list.", true); return; }
    const token = upn ? await upnToken(keys, upn) : await nameToken(keys, surname, dob);
    $("look-up").disabled = true;
    say("Looking up...", false);
    try {
      const answer = await post(root.dataset.url, {token: token, reason: reason.value,
        reason_text: $("reason_text").value, run_id: header.run_id});
      if (!answer.ok) { say(answer.data.error || "The look-up did not work.", true); return; }
      if (!answer.data.found) {
        say(answer.data.ambiguous ? "More than one pupil matches that surname and date of birth: look up by UPN." :
          upn ? "No pupil with that UPN is in your school's databook." :
            "No pupil with that surname and date of birth is in your school's databook.", false);
        return;
      }
      let opened;
      try {
        opened = await openRow(keys, header.urn, header.run_id, answer.data.row_id, answer.data.sealed);
      } catch (e) {
        say("This record failed its integrity check and was not shown. The council has been told.", true);
        await post(root.dataset.url + "/refused", {row_id: answer.data.row_id});
        return;
      }
      say("", false);
      show(opened);
    } finally {
      $("look-up").disabled = false;
    }
  }

  $("unlock").addEventListener("click", unlock);
  $("school-password").addEventListener("keydown", (e) => { if (e.key === "Enter") { unlock(); } });
  $("look-up").addEventListener("click", lookUp);
})();
