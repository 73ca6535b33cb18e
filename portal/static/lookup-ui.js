// The look-up page's interface, in the GOV.UK patterns: every error at once in an error
// summary that takes focus, each also by its field (aria-invalid, aria-describedby), a live
// region that says what is happening, focus moved to the next step's heading after unlocking
// and to the result's heading after a result. The cryptography is lookup.js
// (window.DatabookLookup): the password and the pupil's details never leave this tab.
"use strict";
(function () {
  const L = window.DatabookLookup;
  const root = document.getElementById("lookup");
  if (!root || !L) { return; }
  root.hidden = false;
  const header = JSON.parse(root.dataset.header);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const message = $("lookup-message");
  const summary = $("lookup-errors");
  let keys = null;

  // Each field's error element and the inputs it marks; the summary links to ``target``.
  const FIELDS = {
    "school-password": {error: "password-error", inputs: ["school-password"], target: "school-password"},
    upn: {error: "upn-error", inputs: ["upn"], target: "upn"},
    surname: {error: "surname-error", inputs: ["surname"], target: "surname"},
    dob: {error: "dob-error", inputs: ["dob-day", "dob-month", "dob-year"], target: "dob-day"},
    reason: {error: "reason-error", inputs: [], target: $("look-up").dataset.firstReason},
    reason_text: {error: "reason_text-error", inputs: ["reason_text"], target: "reason_text"},
  };

  // The live region (role="status") announces each change of its text.
  function say(text) {
    message.textContent = text;
  }

  function clearErrors() {
    summary.hidden = true;
    $("lookup-error-list").replaceChildren();
    Object.entries(FIELDS).forEach(([name, field]) => {
      const error = $(field.error);
      error.hidden = true;
      error.textContent = "";
      const group = $(name + "-group");
      if (group) { group.classList.remove("govuk-form-group--error"); }
      field.inputs.forEach((id) => {
        const input = $(id);
        input.removeAttribute("aria-invalid");
        input.classList.remove("govuk-input--error", "govuk-textarea--error");
        const described = (input.getAttribute("aria-describedby") || "").split(" ")
          .filter((x) => x && x !== field.error);
        if (described.length) { input.setAttribute("aria-describedby", described.join(" ")); }
        else { input.removeAttribute("aria-describedby"); }
      });
    });
  }

  // ``errors``: [field name or "", message] in page order. Shown by each field and in the
  // summary, which takes focus (as GOV.UK's error summary does on a page load).
  function showErrors(errors) {
    const list = $("lookup-error-list");
    errors.forEach(([name, text]) => {
      const li = document.createElement("li");
      const field = FIELDS[name];
      if (field) {
        const a = document.createElement("a");
        a.href = "#" + field.target;
        a.textContent = text;
        a.addEventListener("click", (e) => { e.preventDefault(); $(field.target).focus(); });
        li.append(a);
        const error = $(field.error);
        error.replaceChildren();
        const hidden = document.createElement("span");
        hidden.className = "govuk-visually-hidden";
        hidden.textContent = "Error: ";
        error.append(hidden, document.createTextNode(text));
        error.hidden = false;
        const group = $(name + "-group");
        if (group) { group.classList.add("govuk-form-group--error"); }
        field.inputs.forEach((id) => {
          const input = $(id);
          input.setAttribute("aria-invalid", "true");
          input.classList.add(input.tagName === "TEXTAREA" ? "govuk-textarea--error" : "govuk-input--error");
          const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
          input.setAttribute("aria-describedby", [...described, field.error].join(" "));
        });
      } else {
        li.textContent = text;
      }
      list.append(li);
    });
    summary.hidden = false;
    summary.focus();
  }

  function isoDate(day, month, year) {
    if (!/^\d{1,2}$/.test(day) || !/^\d{1,2}$/.test(month) || !/^\d{4}$/.test(year)) { return null; }
    const d = new Date(Date.UTC(+year, +month - 1, +day));
    if (d.getUTCFullYear() !== +year || d.getUTCMonth() !== +month - 1 || d.getUTCDate() !== +day) { return null; }
    if (d > new Date()) { return null; }
    return d.toISOString().slice(0, 10);
  }

  const shown = (value, kind) => value === null ? "" :
    (kind === "date" && /^\d{4}-\d{2}-\d{2}$/.test(value)) ? value.slice(8) + "/" + value.slice(5, 7) + "/" + value.slice(0, 4) : String(value);

  function show(opened) {
    const list = $("result-list");
    list.replaceChildren();
    opened.rows.forEach((row) => {
      header.columns.forEach((column, i) => {
        const div = document.createElement("div");
        div.className = "govuk-summary-list__row";
        const dt = document.createElement("dt");
        const dd = document.createElement("dd");
        dt.className = "govuk-summary-list__key";
        dd.className = "govuk-summary-list__value";
        dt.textContent = column.label;
        dd.textContent = shown(row[i], column.kind);
        div.append(dt, dd);
        list.append(div);
      });
    });
    $("result-as-at").textContent = "Data as at " + shown(header.as_at, "date");
    $("result").hidden = false;
    $("result-heading").focus();
  }

  async function post(url, payload) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(payload)});
    const data = await response.json().catch(() => ({error: "The look-up did not work. Reload the page and try again."}));
    return {ok: response.ok, data: data};
  }

  async function unlock() {
    clearErrors();
    const password = $("school-password").value;
    if (!password) { showErrors([["school-password", "Enter your school's password"]]); return; }
    $("unlock").disabled = true;
    say("Checking the password in this browser...");
    try {
      const candidate = await L.importKeys(await L.deriveBytes(password, header.salt, header.iterations));
      if (await L.checkValue(candidate, header.urn, header.run_id) !== header.check) {
        say("");
        showErrors([["school-password", "That is not your school's password. Nothing was sent or recorded."]]);
        return;
      }
      keys = candidate;
      $("school-password").value = "";
      $("password-step").hidden = true;
      $("lookup-step").hidden = false;
      say("Password accepted. Now find the pupil.");
      $("lookup-step-heading").focus();
    } finally {
      $("unlock").disabled = false;
    }
  }

  function problems(upn, surname, parts, reason) {
    const found = [];
    const anyDate = parts.some(Boolean);
    if (!upn && !surname && !anyDate) {
      found.push(["upn", "Enter the pupil's UPN, or their surname and date of birth"]);
    } else if (!upn) {
      if (!surname) { found.push(["surname", "Enter the pupil's surname"]); }
      if (!anyDate) { found.push(["dob", "Enter the pupil's date of birth"]); }
      else if (!isoDate(...parts)) { found.push(["dob", "Date of birth must be a real date in the past, such as 27 3 2014"]); }
    }
    if (!reason) { found.push(["reason", "Choose why you are looking this pupil up"]); }
    else if (reason.value === "other" && !$("reason_text").value.trim()) {
      found.push(["reason_text", "Say in a few words why you are looking this pupil up"]);
    }
    return found;
  }

  async function lookUp() {
    clearErrors();
    $("result").hidden = true;
    $("result-list").replaceChildren();  // the last pupil's record leaves the page
    const upn = $("upn").value.trim();
    const surname = $("surname").value.trim();
    const parts = ["dob-day", "dob-month", "dob-year"].map((id) => $(id).value.trim());
    const reason = document.querySelector('input[name="reason"]:checked');
    const errors = problems(upn, surname, parts, reason);
    if (errors.length) { say(""); showErrors(errors); return; }
    const token = upn ? await L.upnToken(keys, upn) : await L.nameToken(keys, surname, isoDate(...parts));
    $("look-up").disabled = true;
    say("Looking up...");
    try {
      const answer = await post(root.dataset.url, {token: token, reason: reason.value,
        reason_text: reason.value === "other" ? $("reason_text").value : "", run_id: header.run_id});
      if (!answer.ok) { say(""); showErrors([["", answer.data.error || "The look-up did not work."]]); return; }
      if (!answer.data.found) {
        say(answer.data.ambiguous ? "More than one pupil matches that surname and date of birth: look up by UPN." :
          upn ? "No pupil with that UPN is in your school's databook." :
            "No pupil with that surname and date of birth is in your school's databook.");
        return;
      }
      let opened;
      try {
        opened = await L.openRow(keys, header.urn, header.run_id, answer.data.row_id, answer.data.sealed);
      } catch (e) {
        const text = "This record failed its integrity check and was not shown. The council has been told.";
        say(text);
        showErrors([["", text]]);
        await post(root.dataset.url + "/refused", {row_id: answer.data.row_id});
        return;
      }
      if (!L.rowMatches(header.columns, opened, upn ? {upn: upn} : {surname: surname, dob: isoDate(...parts)})) {
        opened = null;
        const text = "The record sent was not the pupil you asked for, so it was not shown. The council has been told.";
        say(text);
        showErrors([["", text]]);
        await post(root.dataset.url + "/refused", {row_id: answer.data.row_id, what: "wrong_child"});
        return;
      }
      say("Record found: it is shown below.");
      show(opened);
    } finally {
      $("look-up").disabled = false;
    }
  }

  // "Other" reveals its box (GOV.UK's conditional reveal, without aria-expanded on a radio,
  // which WCAG checkers refuse): shown only while "Other" is chosen.
  const other = $("conditional-reason-other");
  document.querySelectorAll('input[name="reason"]').forEach((radio) => {
    radio.addEventListener("change", () => {
      other.classList.toggle("govuk-radios__conditional--hidden", !$("reason-other").checked);
    });
  });

  $("unlock").addEventListener("click", unlock);
  $("school-password").addEventListener("keydown", (e) => { if (e.key === "Enter") { unlock(); } });
  $("look-up").addEventListener("click", lookUp);
})();
