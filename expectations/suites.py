"""Load the JSON suites and resolve them against ``schemas/`` and the council's rules.

The files name columns and value sets symbolically so that they never hold a copy of a schema
fact: ``"@yes_no"`` is a value from the vocabulary below, ``"foreach": "flag_dates"`` repeats
an expectation for every (indicator, date) pair of the schema, filling ``{flag}`` and
``{date}``. A literal column name must exist in the schema, or loading fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from extract.queries import CASE_COLUMNS, ROLL_COLUMNS
from schemas import codes
from schemas.changes import BALANCE_COLUMNS, BALANCE_COUNTS
from schemas.databook import DATE_KEYS, FLAG_DATES, FLAG_KEYS, KEYS, ROUTING_KEYS
from schemas.partners import PARTNER_CHECK_COLUMNS
from schemas.source import PERIOD_COLUMNS, primary_key
from transform.findings import BLOCKING
from transform.rules_config import Rules

#: Columns the validation frame adds to the published rows (see ``frames.py``).
CHECK_COLUMNS = ("check_on_roll", "check_address_withheld", "check_not_disclosed",
                 "check_age_years", "check_upn_letter_ok", "check_cp_plan_years",
                 "check_looked_after_at_home")
VALIDATED_COLUMNS = (*ROUTING_KEYS, *KEYS, *CHECK_COLUMNS)
EXTRACTED = {**CASE_COLUMNS, **ROLL_COLUMNS}
#: Suites (other than the per-table source suites) whose frame is not the databook frame.
BATCH_COLUMNS: dict[str, tuple[str, ...]] = {"changes": BALANCE_COLUMNS, "findings": BLOCKING,
                                             "partners": PARTNER_CHECK_COLUMNS}
CRITICAL = "critical"


class SuiteError(Exception):
    """A suite file refers to something the schema does not have."""


@dataclass(frozen=True)
class Suite:
    """One resolved suite: its name, the batch it validates and GX expectation configs."""

    name: str
    batch: str
    expectations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """Every column the expectations name (the batch is projected to these)."""
        found: list[str] = []
        for e in self.expectations:
            kw = e["kwargs"]
            for key in ("column", "column_A", "column_B"):
                if key in kw and kw[key] not in found:
                    found.append(kw[key])
            found += [c for c in kw.get("column_list", []) if c not in found]
        return found


def vocabulary(rules: Rules) -> dict[str, Any]:
    return {
        "yes_no": [codes.YES, codes.NO],
        "case_statuses": [codes.OPEN, codes.CLOSED],
        "validated_columns": list(VALIDATED_COLUMNS),
        "balance_columns": list(BALANCE_COLUMNS),
        "partner_check_columns": list(PARTNER_CHECK_COLUMNS),
        "warning_codes": list(rules.warning_labels),
        "legal_statuses": sorted(rules.legal_statuses),
        "enrolment_statuses": sorted(rules.enrolment_statuses),
    }


def foreach_items(name: str) -> list[dict[str, str]]:
    lists: dict[str, list[dict[str, str]]] = {
        "flag_keys": [{"column": k} for k in KEYS if k in FLAG_KEYS],
        "routing_keys": [{"column": k} for k in ROUTING_KEYS],
        "flag_dates": [{"flag": f, "date": d} for f, d in FLAG_DATES],
        "indicator_dates": [{"column": k} for k in KEYS if k in DATE_KEYS
                            and k != "date_of_birth"],
        "tables": [{"table": t, "key": primary_key(t)} for t in EXTRACTED],
        "balance_counts": [{"column": c} for c in BALANCE_COUNTS],
        "blocking_findings": [{"rule": r} for r in BLOCKING],
        "period_tables": [{"table": t, "start": s, "end": e}
                          for t, (s, e) in PERIOD_COLUMNS.items() if t in EXTRACTED],
    }
    if name not in lists:
        raise SuiteError(f"unknown foreach list {name!r}")
    return lists[name]


def _fill(value: Any, item: Mapping[str, str], words: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        if value.startswith("@"):
            if value[1:] not in words:
                raise SuiteError(f"unknown vocabulary word {value!r}")
            return words[value[1:]]
        return value.format_map(item) if item else value
    if isinstance(value, list):
        return [_fill(v, item, words) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, item, words) for k, v in value.items()}
    return value


def _expand(raw: dict[str, Any], words: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    items = foreach_items(raw["foreach"]) if "foreach" in raw else [{}]
    for item in items:
        spec = {k: _fill(v, item, words) for k, v in raw.items() if k != "foreach"}
        spec.setdefault("meta", {})
        yield spec


def load(name: str, rules: Rules) -> list[Suite]:
    """The suites in ``<name>.json``: one for the databook, or one per source table."""
    document = json.loads(files("expectations").joinpath(f"{name}.json").read_text("utf-8"))
    return resolve(name, document, rules)


def resolve(name: str, document: Mapping[str, Any], rules: Rules) -> list[Suite]:
    words = vocabulary(rules)
    by_batch: dict[str, list[dict[str, Any]]] = {}
    for raw in document["expectations"]:
        for spec in _expand(raw, words):
            table = spec.pop("table", None)
            batch = f"source.{table}" if table else name
            known = EXTRACTED.get(table, ()) if table else BATCH_COLUMNS.get(
                name, VALIDATED_COLUMNS)
            if table and table not in EXTRACTED:
                raise SuiteError(f"{name}.json names table {table}, which is not extracted")
            _check_columns(spec, known, f"{name}.json ({batch})")
            by_batch.setdefault(batch, []).append(spec)
    return [Suite(batch, batch, specs) for batch, specs in by_batch.items()]


def _check_columns(spec: Mapping[str, Any], known: tuple[str, ...] | list[str],
                   where: str) -> None:
    kw = spec["kwargs"]
    named = [kw[k] for k in ("column", "column_A", "column_B") if k in kw]
    named += list(kw.get("column_list", []))
    for column in named:
        if column not in known:
            raise SuiteError(f"{where}: {spec['type']} names column {column!r}, which the "
                             "schema does not have")
