"""The knobs a council turns, with the defaults from ``schemas.codes``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from schemas import codes


@dataclass(frozen=True)
class Rules:
    as_at: date
    starting_point_name: str = codes.STARTING_POINT_NAME
    starting_point_phone: str = codes.STARTING_POINT_PHONE
    dv_lookback_months: int = codes.DV_LOOKBACK_MONTHS
    warning_labels: Mapping[str, str] = field(default_factory=lambda: dict(codes.WARNING_LABELS))
    not_disclosed_warning: str = codes.NOT_DISCLOSED_WARNING
    address_withholding_warnings: frozenset[str] = codes.ADDRESS_WITHHOLDING_WARNINGS
    legal_statuses: frozenset[str] = codes.LEGAL_STATUSES
    respite_legal_statuses: frozenset[str] = codes.RESPITE_LEGAL_STATUSES
    respite_counts_as_looked_after: bool = False
    publishable_number_types: tuple[str, ...] = codes.PUBLISHABLE_NUMBER_TYPES
    dv_notification_types: frozenset[str] = codes.DOMESTIC_ABUSE_NOTIFICATIONS
    on_roll_statuses: frozenset[str] = codes.ON_ROLL_STATUSES
    enrolment_statuses: frozenset[str] = codes.ENROLMENT_STATUSES

    @property
    def withheld_address(self) -> str:
        return f"Address withheld \N{EN DASH} contact {self.starting_point_name}"

    @property
    def not_disclosed_label(self) -> str:
        return self.warning_labels[self.not_disclosed_warning]
