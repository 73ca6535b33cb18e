// GOV.UK Frontend's components (error summary focus, notification banner, skip link, service
// navigation on small screens), started from this file because the CSP allows no inline
// script. The class tells GOV.UK's CSS that its JavaScript runs here.
import { initAll } from "/static/govuk/govuk-frontend.min.js";

document.body.classList.add("govuk-frontend-supported");
initAll();
