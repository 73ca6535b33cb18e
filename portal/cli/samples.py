"""``databook audit sample`` and ``databook audit annual``: the council's sample checks of
access from the command line (the same drawing as the council's page, ``portal.duties.samples``).

Internal audit re-draws a recorded check with ``--check N`` (exit 1 if the sample differs from
the one recorded), or any sample with ``--from --to --size --seed`` (nothing recorded); an
officer records a new check with ``--record``.
"""

from __future__ import annotations

import argparse
from typing import Any

from databook.ledger.config import AuditError, from_settings, ledger_engine, session
from databook.tables import print_rows
from portal.cli.signing import signs_on_exit
from portal.config import load
from portal.duties import samples
from portal.duties.models import FINDINGS, SampleCheck
from portal.events import COMMAND_LINE
from portal.migrate import upgrade


def register(cmds: Any) -> None:
    p = cmds.add_parser("sample", help="draw a reproducible random sample of downloads and "
                        "look-ups (or re-draw a recorded check with --check N)")
    p.add_argument("--check", type=int, metavar="N", help="re-draw recorded check N from its "
                   "seed; exit 1 if the sample differs from the one recorded")
    p.add_argument("--from", dest="start", metavar="DATE", help="the period's first day")
    p.add_argument("--to", dest="end", metavar="DATE", help="the period's last day")
    p.add_argument("--school", type=int, metavar="URN", help="one school (default: the county)")
    p.add_argument("--size", default="10", help=f"how many (1 to {samples.MAX_SIZE})")
    p.add_argument("--seed", default="", help="hex; blank for a new random one")
    p.add_argument("--record", action="store_true", help="record it as a check (ledgered) "
                   "for findings on the council's page")
    p.add_argument("--format", choices=("table", "csv"), default="table")
    p.set_defaults(handler=signs_on_exit(sample))
    p = cmds.add_parser("annual", help="per school, one year: access, reasons, refusals, "
                        "concerns, leavers and sample findings")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--format", choices=("table", "csv"), default="table")
    p.set_defaults(handler=annual)


def sample(args: argparse.Namespace) -> int:
    config = from_settings(load())
    if args.record:
        upgrade(config.database_url)
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            if args.check is not None:
                check = db.get(SampleCheck, args.check)
                if check is None:
                    raise AuditError(f"there is no sample check {args.check}")
                drawn, same = samples.redraw(db, check)
                print(f"check {check.id}: seed {check.seed}, "
                      f"{check.period_from.isoformat()} to {check.period_to.isoformat()}, "
                      f"{'school ' + str(check.urn) if check.urn else 'county-wide'}, "
                      f"{len(drawn)} of {check.population}")
                print("the same sample as recorded" if same else
                      "A DIFFERENT SAMPLE from the one recorded: "
                      + ",".join(map(str, drawn)))
                return 0 if same else 1
            if not args.start or not args.end:
                raise AuditError("give --from DATE and --to DATE (or --check N)")
            try:
                first, last, size, seed = samples.parse(args.start, args.end, args.size,
                                                        args.seed)
            except samples.SampleError as exc:
                raise AuditError(f"--{ {'start': 'from', 'end': 'to'}.get(exc.field, exc.field)}"
                                 f": {exc}") from None
            period = samples.Period(first, last, args.school)
            if args.record:
                made = samples.new_check(db, COMMAND_LINE, period, size, seed, None)
                db.commit()
                print(f"recorded as check {made.id} (ledger entry {made.ledger_index})")
                indexes = [i.entry_index for i in made.items]
                found = made.population
            else:
                everyone = samples.population(db, period)
                indexes, found = samples.draw(everyone, seed, size), len(everyone)
            print(f"seed {seed}: {len(indexes)} of {found} downloads and look-ups")
            check = SampleCheck(items=[])
            rows = samples.items(db, _shell(check, indexes))
    finally:
        engine.dispose()
    print_rows([{k: v for k, v in r.items() if k != "finding"} for r in rows], args.format)
    return 0


def _shell(check: SampleCheck, indexes: list[int]) -> SampleCheck:
    """An unsaved check holding ``indexes``, to describe them as the page does."""
    from portal.duties.models import SampleItem

    check.items = [SampleItem(entry_index=i) for i in indexes]
    return check


def annual(args: argparse.Namespace) -> int:
    config = from_settings(load())
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            rows = samples.annual(db, args.year)
    finally:
        engine.dispose()
    print_rows(rows, args.format)
    if args.format == "table":
        print("findings: " + ", ".join(f"{k} = {v.lower()}" for k, v in FINDINGS.items()))
    return 0
