"""The nightly run's read of the partner register, which the council keeps in the portal's
database (``databook partners import``; tables made by the portal's migration 0004).

Plain SQLAlchemy Core on lightweight ``table()`` descriptions, read only: the nightly host
never imports portal code, and reading the register where the council keeps it (rather than
from an exported file) means a run always publishes under the agreements as they stand, with
no file to go stale between an officer's import and the night. The queries build no SQL from
input and compile for SQL Server too.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from sqlalchemy import Date, Integer, String, column, create_engine, inspect, select, table
from sqlalchemy.exc import SQLAlchemyError

from publish.errors import PublishError
from schemas.partners import PartnerRecord, ordered_keys

log = logging.getLogger(__name__)

PARTNERS = table("partners", column("partner_id", String), column("name", String),
                 column("dsa_signed_on", Date), column("dsa_review_on", Date))
SCHOOLS = table("partner_schools", column("partner_id", String), column("urn", Integer))
COLUMNS = table("partner_columns", column("partner_id", String), column("key", String),
                column("position", Integer))

PARTNERS_QUERY = select(PARTNERS.c.partner_id, PARTNERS.c.name, PARTNERS.c.dsa_signed_on,
                        PARTNERS.c.dsa_review_on).order_by(PARTNERS.c.partner_id)
SCHOOLS_QUERY = select(SCHOOLS.c.partner_id, SCHOOLS.c.urn).order_by(SCHOOLS.c.partner_id,
                                                                     SCHOOLS.c.urn)
COLUMNS_QUERY = select(COLUMNS.c.partner_id, COLUMNS.c.key).order_by(COLUMNS.c.partner_id,
                                                                     COLUMNS.c.position)


class RegisterUnavailable(PublishError):
    """The portal database could not be read; str() names the fault's type, never the URL."""


def _day(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))  # SQLite hands back text through a bare column()


def read_partners(url: str | None) -> list[PartnerRecord]:
    """Every partner on the register; none when there is no portal database or it has no
    partner tables yet (a council that has not set partners up). A database that exists but
    cannot be read raises ``RegisterUnavailable``."""
    if not url:
        return []
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return []
    try:
        engine = create_engine(url)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise RegisterUnavailable(f"the partner register could not be read "
                                  f"({type(exc).__name__})") from None
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("partners"):
                return []
            heads = conn.execute(PARTNERS_QUERY).all()
            schools: dict[str, list[int]] = {}
            for pid, urn in conn.execute(SCHOOLS_QUERY):
                schools.setdefault(str(pid), []).append(int(urn))
            columns: dict[str, set[str]] = {}
            for pid, key in conn.execute(COLUMNS_QUERY):
                columns.setdefault(str(pid), set()).add(str(key))
    except SQLAlchemyError as exc:
        raise RegisterUnavailable(f"the partner register could not be read "
                                  f"({type(exc).__name__})") from None
    finally:
        engine.dispose()
    return [PartnerRecord(partner_id=str(pid), name=str(name),
                          schools=tuple(sorted(schools.get(str(pid), []))),
                          columns=ordered_keys(columns.get(str(pid), set())),
                          dsa_signed_on=_day(signed), dsa_review_on=_day(review))
            for pid, name, signed, review in heads]
