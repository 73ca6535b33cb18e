"""A council form with bad input comes back as the same page: the typed values kept, the
navigation there, the error in the summary and beside its field, status 400, nothing changed
(the refusal is recorded, as every refusal is).

A route raises ``field_error(field_id, message)`` (a ``Denied`` 400 ``bad_input`` naming the
field); ``keeps_form(again)`` catches it around the route and calls ``again(request, errors,
values)`` to draw the page again. Any other refusal passes through untouched.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from portal.access import Denied, record_refusal


class FieldError(Denied):
    """Bad input in one field of a council form: a 400 ``bad_input`` with the field's id."""

    def __init__(self, field: str, message: str, more: dict[str, str] | None = None) -> None:
        super().__init__(400, message, what="bad_input")
        self.field = field
        #: Every field's error at once (GOV.UK: each blank field says so), in page order.
        self.errors = {field: message, **(more or {})}


def field_error(field: str, message: str) -> FieldError:
    return FieldError(field, message)


def field_errors(errors: dict[str, str]) -> FieldError | None:
    """One refusal naming every field with a problem (None when there is none)."""
    if not errors:
        return None
    (field, message), *rest = errors.items()
    return FieldError(field, message, dict(rest))


def typed(prefix: str, values: dict[str, Any]) -> dict[str, str]:
    """A form's typed values by their input ids (``add-email``...), to fill the form again."""
    return {f"{prefix}-{k}": str(v) for k, v in values.items() if isinstance(v, str)}


#: Draws a form's page again: (request, {field id: message}, the route's typed values).
Again = Callable[[Request, dict[str, str], dict[str, Any]], Response]


def keeps_form(again: Again) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Wrap a route so a ``FieldError`` (or any ``bad_input`` refusal, shown at the top) draws
    the page again with the error, instead of a separate error page that loses the values."""

    def wrap(route: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(route)
        def inner(request: Request, **values: Any) -> Response:
            try:
                return route(request, **values)
            except Denied as denied:
                if denied.what != "bad_input" or denied.status != 400:
                    raise
                denied.what = "form_error"  # recorded, but an officer's typo is not irregular
                record_refusal(request, denied)
                found = getattr(denied, "errors", None) or {getattr(denied, "field", ""):
                                                            str(denied)}
                response = again(request, dict(found), values)
                response.status_code = 400
                return response
        return inner
    return wrap
