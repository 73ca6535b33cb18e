"""The synthetic case database: people known to social care and their histories.

Rates follow England's published figures roughly (of pupils: ~3% children in need, 0.4% on a
plan, 0.7% looked after) plus closed cases with history; ``scenarios`` plants every situation
the source contract names at least once, whatever the size.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

import pandas as pd

from demo.markers import DETAILS_MARK, NOTE_MARK, POLICE_REF_MARK
from demo.names import FORMULA_NAMES, Pools, pick
from demo.roll import Pupil
from schemas import codes

Row = dict[str, object]
WARNING_TYPES = tuple(codes.WARNING_LABELS)


class Cases:
    def __init__(self, rng: random.Random, names: Pools, as_at: datetime) -> None:
        self.rng, self.names, self.as_at = rng, names, as_at
        self.tables: dict[str, list[Row]] = defaultdict(list)
        self._ids: dict[str, int] = defaultdict(lambda: 1000)
        self.workers: list[int] = []

    # -- helpers ---------------------------------------------------------------------------
    def next_id(self, table: str) -> int:
        self._ids[table] += 1
        return self._ids[table]

    def add(self, table: str, key: str, **row: object) -> int:
        row_id = self.next_id(table)
        self.tables[table].append({key: row_id, **row})
        return row_id

    def ago(self, low: int, high: int | None = None) -> datetime:
        return self.as_at - timedelta(days=low if high is None else self.rng.randint(low, high))

    # -- people ----------------------------------------------------------------------------
    def person(self, pupil: Pupil | None, *, age: tuple[int, int] = (4, 16),
               identity: str = "upn", name: tuple[str, str] | None = None,
               restricted: bool = False, dob: bool = True) -> int:
        rng = self.rng
        first, last = name or (pick(rng, self.names.first), pick(rng, self.names.last))
        upn = former = None
        if pupil is not None:
            upn = {"upn": pupil.upn, "upn-messy": pupil.upn.lower(),
                   "malformed": pupil.upn[:-1]}.get(identity)
            former = pupil.upn if identity == "former" else None
        birth = self.ago(365 * age[0] + 1, 365 * age[1] + 300) if dob else None
        person_id = self.add(
            "DM_PERSONS", "PERSON_ID", FULL_NAME=f"{first} {last}"[:62], FIRST_NAME=first[:30],
            LAST_NAME=last[:30], DATE_OF_BIRTH=birth, DATE_OF_DEATH=None,
            GENDER=rng.choice("MF"), RESTRICTED="Y" if restricted else rng.choice(["N", None]),
            UPN_ID=upn, FORMER_UPN_ID=former)
        if pupil is not None and identity == "reference":  # padded: matched after trimming
            self.reference(person_id, codes.REFERENCE_UPN, f" {pupil.upn.lower()} ")
        if pupil is not None and identity in ("ems", "upn+ems"):
            self.reference(person_id, codes.REFERENCE_EMS, str(pupil.edu_person_id))
        if identity == "upn+ems" and pupil is not None:
            self.tables["DM_PERSONS"][-1]["UPN_ID"] = pupil.upn
        self.reference(person_id, "NHS", str(rng.randint(4_000_000_000, 4_999_999_999)))
        self.address(person_id)
        return person_id

    def reference(self, person_id: int, kind: str, value: str) -> None:
        self.add("DM_PERSON_REFERENCES", "REFERENCE_ID", PERSON_ID=person_id,
                 REFERENCE_TYPE=kind, REFERENCE=value)

    def address(self, person_id: int, *, kind: str = "normal") -> None:
        rng, n = self.rng, self.names

        def row(start: datetime, end: datetime | None, a_type: str, display: str | None,
                contact: str | None) -> None:
            self.add("DM_ADDRESSES", "REF_ADDRESSES_PEOPLE_ID",
                     REF_ADDRESS_ID=rng.randint(1, 10**8), PERSON_ID=person_id,
                     START_DATE=start, END_DATE=end,
                     ADDRESS=f"{pick(rng, n.streets)}, {pick(rng, n.towns)}".replace("\n", ", "),
                     POST_CODE=pick(rng, n.postcodes), ADDRESS_TYPE=a_type,
                     IS_CONTACT_ADDRESS=contact, IS_DISPLAY_ADDRESS=display)

        moved = self.ago(30, 1500)
        row(moved - timedelta(days=rng.randint(200, 2000)), moved, "PREVIOUS", "N", "N")
        if kind == "none":
            return
        if kind == "two-current":
            row(self.ago(100, 400), None, "MAIN", None, "Y")
            row(self.ago(10, 90), None, "MAIN", None, None)
            return
        row(moved, None, "MAIN", "Y", "Y")
        if rng.random() < 0.1:
            row(self.ago(5, 200), None, "PLACEMENT", "N", None)

    # -- case history ----------------------------------------------------------------------
    def referral(self, person_id: int, start: datetime, end: datetime | None) -> None:
        self.add("DM_CIN_REFERRALS", "REFERRAL_ID", PERSON_ID=person_id, REFERRAL_DATE=start,
                 CLOSURE_DATE=end, CLOSURE_REASON="RC1" if end else None)

    def cp_plan(self, person_id: int, start: datetime, end: datetime | None, *,
                temporary: bool = False) -> None:
        self.add("DM_REGISTRATIONS", "REGISTRATION_ID", PERSON_ID=person_id,
                 REGISTRATION_START_DATE=start, DEREGISTRATION_DATE=end,
                 IS_CHILD_PROTECTION_PLAN="Y", IS_TEMPORARY_CHILD_PROTECTION="Y" if temporary
                 else self.rng.choice(["N", None]))

    def other_register(self, person_id: int) -> None:
        self.add("DM_REGISTRATIONS", "REGISTRATION_ID", PERSON_ID=person_id,
                 REGISTRATION_START_DATE=self.ago(50, 900), DEREGISTRATION_DATE=None,
                 IS_CHILD_PROTECTION_PLAN="N", IS_TEMPORARY_CHILD_PROTECTION="N")

    def care(self, person_id: int, start: datetime, end: datetime | None,
             statuses: tuple[str, ...] = ("C2",)) -> None:
        period = self.add("DM_PERIODS_OF_CARE", "PERIOD_OF_CARE_ID", PERSON_ID=person_id,
                          START_DATE=start, END_DATE=end)
        for code in statuses:
            respite = code in codes.RESPITE_LEGAL_STATUSES
            self.add("DM_LEGAL_STATUSES", "LEGAL_STATUS_ID", PERSON_ID=person_id,
                     PERIOD_OF_CARE_ID=period, LEGAL_STATUS=code, START_DATE=start,
                     END_DATE=end, IS_RESPITE_CARE="Y" if respite else "N")

    def allocate(self, person_id: int, *, worker: int | None = None,
                 start: datetime | None = None) -> None:
        self.add("DM_ALLOCATED_WORKERS", "ALLOCATION_ID", PERSON_ID=person_id,
                 WORKER_ID=worker or self.rng.choice(self.workers),
                 START_DATE=start or self.ago(5, 300), END_DATE=None)

    def warning(self, person_id: int, code: str, *, start: datetime | None = None,
                end: datetime | None = None) -> None:
        note = f"{NOTE_MARK} {self.rng.randint(1, 10**6)}: discussed with family at home"
        self.add("LA_PERSON_WARNINGS", "WARNING_ID", PERSON_ID=person_id, WARNING_TYPE=code,
                 START_DATE=start or self.ago(10, 700), END_DATE=end,
                 REVIEW_DATE=self.as_at + timedelta(days=90), NOTE=note)

    def notification(self, person_id: int, when: datetime, kind: str = "DA") -> None:
        serial = self.next_id("police-ref")
        self.add("LA_POLICE_NOTIFICATIONS", "NOTIFICATION_ID", PERSON_ID=person_id,
                 NOTIFICATION_DATE=when, INCIDENT_DATE=when - timedelta(days=2),
                 NOTIFICATION_TYPE=kind, POLICE_REFERENCE=f"{POLICE_REF_MARK}-{serial}",
                 DETAILS=f"{DETAILS_MARK} incident {serial} reported by officer")

    def make_workers(self, count: int) -> None:
        for _ in range(count):
            name = pick(self.rng, self.names.workers)
            worker = self.add("DM_WORKERS", "WORKER_ID", FULL_NAME=name)
            self.workers.append(worker)
            roll = self.rng.random()
            phones: list[tuple[str, str]] = []
            if roll < 0.70:
                phones = [("WORK", "Y"), ("MOBILE", "N")]
            elif roll < 0.80:
                phones = [("MOBILE", "N")]
            elif roll < 0.85:
                phones = [("WORK", "N"), ("MOBILE", "Y")]
            elif roll < 0.93:
                phones = [("HOME", "Y")]  # only a home number: never published
            for kind, primary in phones:
                prefix = {"WORK": "01629 5", "MOBILE": "07700 9", "HOME": "01773 8"}[kind]
                self.add("LA_WORKER_TELEPHONE_NUMBERS", "TELEPHONE_ID", WORKER_ID=worker,
                         TELEPHONE_NUMBER=f"{prefix}{self.rng.randint(0, 99999):05d}",
                         NUMBER_TYPE=kind, IS_PRIMARY=primary)

    # -- profiles --------------------------------------------------------------------------
    def profile(self, person_id: int, kind: str) -> None:
        """Typical histories: 'cin', 'cp', 'lac' or 'closed'."""
        rng, as_at = self.rng, self.as_at
        if kind == "closed":
            start = self.ago(200, 2500)
            self.referral(person_id, start, start + timedelta(days=rng.randint(20, 180)))
            if rng.random() < 0.2:
                self.cp_plan(person_id, start + timedelta(days=10), start + timedelta(days=150))
            if rng.random() < 0.1:
                self.care(person_id, start + timedelta(days=5), start + timedelta(days=90))
            return
        future_close = as_at + timedelta(days=rng.randint(1, 60)) if rng.random() < 0.2 else None
        if kind in ("cin", "cp") or rng.random() < 0.3:
            self.referral(person_id, self.ago(10, 700), future_close)
        if kind == "cp":
            if rng.random() < 0.25:
                old = self.ago(900, 1800)
                self.cp_plan(person_id, old, old + timedelta(days=rng.randint(100, 400)))
            self.cp_plan(person_id, self.ago(10, 600), None)
        if kind == "lac":
            self.care(person_id, self.ago(30, 2000), None, (rng.choice(["C2", "E1", "J1", "L1"]),))
        if rng.random() < 0.95:
            self.allocate(person_id)
        if rng.random() < 0.15:
            self.other_register(person_id)


def scenarios(c: Cases, pupils: list[Pupil]) -> None:
    """Plant each named situation on its own pupil (``pupils`` must hold enough of them)."""
    as_at, day = c.as_at, timedelta(days=1)
    it = iter(pupils)

    def child(**kw: object) -> int:
        return c.person(next(it), **kw)  # type: ignore[arg-type]

    def open_case(p: int) -> None:
        c.referral(p, c.ago(40), None)
        c.allocate(p)

    plan: list[tuple[str, Callable[[], None]]] = []

    def scenario(fn: Callable[[], None]) -> None:
        plan.append((fn.__name__, fn))

    @scenario
    def cp_ends_on_as_at() -> None:
        p = child()
        open_case(p)
        c.cp_plan(p, c.ago(300), as_at)

    @scenario
    def cp_starts_on_as_at() -> None:
        p = child()
        open_case(p)
        c.cp_plan(p, as_at, None)

    @scenario
    def cp_starts_after_as_at() -> None:
        p = child()
        open_case(p)
        c.cp_plan(p, as_at + 5 * day, None)

    @scenario
    def temporary_cp_only() -> None:
        p = child()
        open_case(p)
        c.cp_plan(p, c.ago(20), None, temporary=True)

    @scenario
    def respite_only_care() -> None:
        p = child()
        c.care(p, c.ago(100), None, ("V3",))
        c.allocate(p)

    @scenario
    def respite_care_and_referral() -> None:
        p = child()
        open_case(p)
        c.care(p, c.ago(100), None, ("V4",))

    @scenario
    def cp_lac_and_previous_cp() -> None:
        p = child()
        open_case(p)
        c.cp_plan(p, c.ago(700), c.ago(400))
        c.cp_plan(p, c.ago(60), None)
        c.care(p, c.ago(30), None, ("C2",))

    @scenario
    def two_current_referrals() -> None:
        p = child()
        c.referral(p, c.ago(400), None)
        c.referral(p, c.ago(30), None)
        c.allocate(p)

    @scenario
    def referral_closes_on_as_at() -> None:
        p = child()
        c.referral(p, c.ago(120), as_at)
        c.allocate(p)

    @scenario
    def worker_with_home_number_only() -> None:
        worker = c.add("DM_WORKERS", "WORKER_ID", FULL_NAME="Pat Homeonly")
        c.add("LA_WORKER_TELEPHONE_NUMBERS", "TELEPHONE_ID", WORKER_ID=worker,
              TELEPHONE_NUMBER="01773 800000", NUMBER_TYPE="HOME", IS_PRIMARY="Y")
        p = child()
        c.referral(p, c.ago(40), None)
        c.allocate(p, worker=worker)

    @scenario
    def no_worker_allocated() -> None:
        p = child()
        c.referral(p, c.ago(40), None)

    @scenario
    def two_current_allocations() -> None:
        p = child()
        c.referral(p, c.ago(40), None)
        c.allocate(p, start=c.ago(200))
        c.allocate(p, start=c.ago(20))

    @scenario
    def restricted_record() -> None:
        p = child(restricted=True)
        open_case(p)
        c.warning(p, "VIOL")  # "Information not to be disclosed; Risk of violence"
        p = child()
        open_case(p)
        c.warning(p, "THRT")
        c.warning(p, "ANIM")

    @scenario
    def every_warning_type() -> None:
        for code in WARNING_TYPES:
            p = child()
            open_case(p)
            c.warning(p, code)
        p = child()
        c.referral(p, c.ago(900), c.ago(700))
        c.warning(p, "VIOL", end=c.ago(10))
        c.warning(p, "ANIM", start=as_at + 3 * day)
        c.warning(p, "ZZZ")  # unknown code: a finding, never a caution

    @scenario
    def dv_window_edges() -> None:
        edge = (pd.Timestamp(as_at) - pd.DateOffset(months=12)).to_pydatetime()
        for when, kind in ((edge, "DA"), (edge - day, "DA"), (as_at, "DA"),
                           (as_at + 2 * day, "DA"), (c.ago(20), "MISS")):
            p = child()
            open_case(p)
            c.notification(p, when, kind)

    @scenario
    def identifiers() -> None:
        for identity in ("former", "reference", "ems", "upn+ems", "upn-messy", "malformed"):
            p = child(identity=identity)
            open_case(p)

    @scenario
    def ambiguous_identifiers() -> None:
        twin = next(it)
        for _ in range(2):  # two case people share one pupil's UPN
            p = c.person(twin)
            open_case(p)
        first, second = next(it), next(it)  # one person matches two pupils
        p = c.person(first)
        open_case(p)
        c.reference(p, codes.REFERENCE_EMS, str(second.edu_person_id))

    @scenario
    def awkward_names() -> None:
        for name in FORMULA_NAMES:
            p = child(name=name)
            open_case(p)
        p = child(name=("Siân", "O'Brien"))
        open_case(p)

    @scenario
    def malformed_rows() -> None:
        p = child(dob=False)
        open_case(p)
        p = child()
        open_case(p)
        c.referral(p, c.ago(10), c.ago(50))  # ends before it starts
        p = child()
        open_case(p)
        c.care(p, c.ago(60), None, ("Q9",))  # unknown legal status
        c.add("LA_PERSON_WARNINGS", "WARNING_ID", PERSON_ID=p, WARNING_TYPE="VIOL",
              START_DATE=None, END_DATE=None, REVIEW_DATE=None, NOTE=f"{NOTE_MARK} no start")

    @scenario
    def addresses() -> None:
        p = c.person(next(it))
        open_case(p)
        c.address(p, kind="two-current")
        p = child()
        open_case(p)
        for row in c.tables["DM_ADDRESSES"]:
            if row["PERSON_ID"] == p and row["END_DATE"] is None:
                row["END_DATE"] = c.ago(5)  # no current address at all

    for _name, fn in plan:
        fn()
