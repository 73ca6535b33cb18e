"""The demo register: most schools signed, every case of the rules present, and valid CSV."""

from __future__ import annotations

from datetime import date

from portal.registers import rules
from portal.registers.csvio import parse, to_csv
from portal.registers.demo import demo_register, open_schools
from portal.registers.escalation import report
from portal.registers.record import Versions
from tests.support import Council

TODAY = date(2026, 11, 21)
V = Versions(protocol="1.0", agreement="2.0")


def test_demo_register_covers_the_demo_roll_and_every_case(council: Council) -> None:
    schools = open_schools(council.roll_url)
    records = demo_register(schools, TODAY, V)
    assert [r.urn for r in records] == [urn for urn, _ in schools]
    assert parse(to_csv(records), TODAY) == records  # what `make portal` imports is valid
    allowed = [r for r in records if rules.protocol_current(r, V)]
    assert len(allowed) > len(records) / 2
    assert all(rules.protocol_current(r, V) for r in records[:2])  # the demo DSLs' schools
    lists = {line.kind for line in report(records, TODAY, V)}
    assert lists == {"requires_escalation", "agreement_out_of_date"}
    refused_not_escalated = [r for r in records if not rules.protocol_current(r, V)
                             and not rules.requires_escalation(r, TODAY)]
    assert refused_not_escalated
