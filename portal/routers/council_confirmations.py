"""The term's DSL confirmation round, for council officers: who each school has not yet
confirmed as still its DSL, start a round, record a school's answer.

The same functions as ``databook schools confirm-round|confirm|confirmations``, each change in
one transaction with its ``council_action`` ledger entry (by the officer), so an officer who
took a school's phone call need not reach the council's host. A bad form gets a 400 page and
changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import Response

from portal import labels
from portal.context import ctx
from portal.registers import store
from portal.registers.audit import record_confirmed, record_round
from portal.registers.config import confirmation_days
from portal.registers.confirmations import request_round, standings, user_id_for
from portal.registers.gate import today
from portal.routers.council_common import (
    bad_input,
    council_router,
    officer,
    optional_urn,
    page,
    parse_urn,
)
from portal.routers.council_forms import keeps_form, typed

router = council_router()
Text = Annotated[str, Form(max_length=10_000)]
#: The longest "who confirmed" the command line takes too.
MAX_BY = 200


def _page(request: Request, school: str = "", errors: dict[str, str] | None = None,
          typed: dict[str, str] | None = None) -> Response:
    """Every named DSL's standing this term (unconfirmed first), at one school or all; after
    bad input, the same page with the error by its field and what was typed."""
    urn = None if errors and "filter-school" in errors else optional_urn(school, "filter-school")
    context = ctx(request)
    window = confirmation_days(context.settings)
    with context.transaction() as db:
        found = standings(db, today(), window, urn)
    order = {"suspended": 0, "awaiting": 1, "not_requested": 2, "confirmed": 3}
    rows = sorted(found, key=lambda s: (order.get(s.state, 9), s.urn, s.email))
    return page(request, "confirmations.html", {
        "rows": rows, "school": school, "window": window, "errors": errors or {},
        "typed": typed or {},
        "unconfirmed": sum(1 for s in found if s.state in ("awaiting", "suspended"))})


@router.get("/confirmations")
@keeps_form(lambda request, errors, values: _page(request, values["school"], errors))
def confirmations_page(request: Request,
                       school: Annotated[str, Query(max_length=1000)] = "") -> Response:
    return _page(request, school)


@router.post("/confirmations/round")
@keeps_form(lambda request, errors, values: _page(request, "", errors, typed("round", values)))
def start_round(request: Request, school: Text = "") -> Response:
    """Everyone (or one school's DSLs) must be confirmed again, as ``confirm-round``."""
    urn = optional_urn(school, "round-school")
    context = ctx(request)
    viewer, _who = officer(request)
    moment = today()
    with context.transaction() as db:
        asked = request_round(db, moment, urn)
        record_round(db, asked, urn, viewer.email)
    until = moment + timedelta(days=confirmation_days(context.settings))
    return page(request, "confirmed.html", {
        "message": f"Asked for {asked} DSLs to be confirmed; anyone not confirmed by "
                   f"{labels.day(until)} is suspended until their school confirms them."})


@router.post("/confirmations/confirm")
@keeps_form(lambda request, errors, values: _page(request, "", errors,
                                                  typed("confirm", values)))
def confirm(request: Request, school: Text = "", email: Text = "", by: Text = "") -> Response:
    """The school's answer that this user is still its DSL (lifts a suspension)."""
    urn = parse_urn(school, "confirm-school")
    by = " ".join(by.split())
    if not email.strip():
        raise bad_input("Enter the DSL's email address.", "confirm-email")
    if not by or len(by) > MAX_BY:
        raise bad_input(f"Say who at the school confirmed, in at most {MAX_BY} characters.",
                        "confirm-by")
    context = ctx(request)
    viewer, _who = officer(request)
    with context.transaction() as db:
        user_id = user_id_for(db, email, urn)
        if user_id is None:
            raise bad_input(f"Nothing was changed: that address is not a named DSL at school "
                            f"{urn}.", "confirm-email")
        store.confirm(db, user_id, urn, by, today())
        record_confirmed(db, user_id, email.strip().lower(), urn, viewer.email)
    return page(request, "confirmed.html", {
        "message": f"Recorded: school {urn} confirmed this DSL ({by})."})
