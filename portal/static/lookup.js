// Look up one pupil (docs/explanation/lookup.md). The school password stays in this tab:
// the keys are derived here with WebCrypto, the portal gets only a blind token and a reason,
// and the one sealed row it returns is opened here. Mirrors publish/lookup_bundle.py exactly.
// The page itself (fields, errors, status, focus) is lookup-ui.js, on window.DatabookLookup.
"use strict";
(function () {
  const DOMAIN = "databook lookup v1";
  const enc = new TextEncoder();
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
  const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  // Letters Unicode does not decompose, as publish.lookup_bundle.FOLDS (the same table).
  const FOLDS = {"\u0131": "i", "\u00df": "ss", "\u00f8": "o", "\u00e6": "ae", "\u0153": "oe",
    "\u0142": "l", "\u0111": "d", "\u00f0": "d", "\u00fe": "th", "\u0127": "h",
    "\u0167": "t", "\u0138": "k", "\u014b": "ng", "\u0180": "b", "\u0183": "b",
    "\u0188": "c", "\u0192": "f", "\u0199": "k", "\u019a": "l", "\u01b4": "y",
    "\u01b6": "z", "\u0237": "j"};
  const FOLD = new RegExp("[" + Object.keys(FOLDS).join("") + "]", "gu");

  // The one rule, as publish.lookup_bundle.normalise: NFKD; case folded (upper then lower
  // case, final sigma folded); NFKD again; combining marks dropped; FOLDS; then only letters
  // and decimal digits kept. "Yılmaz", "YILMAZ" and "Yilmaz" are one surname.
  function normalise(text) {
    return text.normalize("NFKD").toUpperCase().toLowerCase().replace(/\u03c2/g, "\u03c3")
      .normalize("NFKD").replace(/\p{M}/gu, "").replace(FOLD, (c) => FOLDS[c])
      .replace(/[^\p{L}\p{Nd}]/gu, "");
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

  // Whether the opened row is the child asked for, by what it was sealed under: the UPN, or
  // the date of birth and a surname the name ends in (as publish.lookup_bundle.tokens_for).
  // The portal chooses which sealed row to send; a row of another child of the school opens
  // as well as the right one, so the page checks before it shows anything.
  const LEGACY = {"UPN": "upn", "Name": "name", "Date of birth": "date_of_birth"};
  function rowMatches(columns, opened, query) {
    const at = (key) => columns.findIndex((c) => (c.key || LEGACY[c.label]) === key);
    const [upnAt, nameAt, dobAt] = [at("upn"), at("name"), at("date_of_birth")];
    const rows = opened && Array.isArray(opened.rows) ? opened.rows : [];
    return rows.length > 0 && rows.some((row) => {
      if (query.upn) {
        const want = normalise(query.upn);
        return upnAt >= 0 && want !== "" && typeof row[upnAt] === "string" && normalise(row[upnAt]) === want;
      }
      if (nameAt < 0 || dobAt < 0 || row[dobAt] !== query.dob || typeof row[nameAt] !== "string") { return false; }
      const want = normalise(query.surname);
      const words = row[nameAt].split(/\s+/).filter((w) => w !== "").map(normalise);
      for (let i = words.length > 1 ? 1 : 0; i < words.length; i++) {
        if (want !== "" && words.slice(i).join("") === want) { return true; }
      }
      return false;
    });
  }

  window.DatabookLookup = {normalise, deriveBytes, importKeys, upnToken, nameToken, checkValue, openRow,
    rowMatches};
})();
