// The session-timeout warning (the GOV.UK/HMRC timeout pattern): two minutes before the
// portal's idle limit, a modal dialog says so and offers "Stay signed in" (a POST that
// restarts the server's idle clock) or "Sign out". Escape also stays signed in. If nothing
// is chosen, the browser signs out and shows "You have been signed out", instead of a form
// that fails later with the typed reason lost. The server's own limit is the real one: this
// only warns a little early (the server notes activity at most every 30 seconds).
"use strict";
(function () {
  const dialog = document.getElementById("timeout-warning");
  if (!dialog || typeof dialog.showModal !== "function") { return; }
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const idle = Number(dialog.dataset.idle) * 1000;
  const slack = Math.min(30000, idle / 4);          // the server may have seen us this much earlier
  const warning = Math.min(120000, (idle - slack) / 2);
  const countdown = document.getElementById("timeout-countdown");
  let warnTimer = 0, endTimer = 0, tick = 0, endsAt = 0, before = null;

  function words(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    if (s >= 60) { const m = Math.ceil(s / 60); return m + (m === 1 ? " minute" : " minutes"); }
    return s + (s === 1 ? " second" : " seconds");
  }

  function schedule() {
    window.clearTimeout(warnTimer);
    window.clearTimeout(endTimer);
    window.clearInterval(tick);
    endsAt = Date.now() + idle - slack;
    warnTimer = window.setTimeout(warn, idle - slack - warning);
    endTimer = window.setTimeout(expire, idle - slack);
  }

  // From the warning there are always ``warning`` ms left: the count and the sign-out agree.
  function warn() {
    window.clearTimeout(warnTimer);
    window.clearTimeout(endTimer);
    endsAt = Date.now() + warning;
    endTimer = window.setTimeout(expire, warning);
    before = document.activeElement;
    countdown.textContent = words(endsAt - Date.now());
    tick = window.setInterval(() => { countdown.textContent = words(endsAt - Date.now()); }, 1000);
    dialog.showModal();
    document.getElementById("timeout-stay").focus();
  }

  async function expire() {
    window.clearInterval(tick);
    try {
      await fetch("/signout", {method: "POST", credentials: "same-origin", redirect: "manual",
                               headers: {"X-CSRF-Token": csrf}});
    } catch (e) { /* the session has ended on the server anyway */ }
    window.location.assign("/signed-out");
  }

  async function stay() {
    window.clearInterval(tick);
    let ok = false;
    try {
      const response = await fetch("/session/extend", {method: "POST", credentials: "same-origin",
        headers: {"X-CSRF-Token": csrf, "Content-Type": "application/json"}, body: "{}"});
      ok = response.ok;
    } catch (e) { ok = false; }
    if (!ok) { window.location.assign("/signed-out"); return; }
    if (dialog.open) { dialog.close(); }
    if (before && typeof before.focus === "function") { before.focus(); }
    schedule();
  }

  document.getElementById("timeout-stay").addEventListener("click", stay);
  dialog.addEventListener("cancel", (event) => { event.preventDefault(); stay(); });
  window.DatabookTimeout = {warn: warn, stay: stay, expire: expire};
  schedule();
})();
