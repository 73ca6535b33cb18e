"""Default code lists and contact details.

These are defaults, not constants: every council maps its own codes through configuration
(``[rules]`` in ``databook.toml``). Transform, validation and the demo generator all start
from these values so that none of them keeps a private copy.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

#: Warning types shown as cautions, in the order they are listed in a databook cell.
WARNING_LABELS: Final = MappingProxyType({
    "NDISC": "Information not to be disclosed",
    "ADDR": "Address confidential",
    "VIOL": "Risk of violence",
    "THRT": "Threatening behaviour",
    "ANIM": "Animals at the property",
    "UNSAFE": "Unsafe premises",
})

#: The warning that a restricted record implies (its label is added to the cautions).
NOT_DISCLOSED_WARNING: Final = "NDISC"

#: Current warnings of these types withhold the principal address.
ADDRESS_WITHHOLDING_WARNINGS: Final = frozenset({"NDISC", "ADDR"})

#: SSDA903 legal statuses; V3/V4 are short breaks (respite care).
LEGAL_STATUSES: Final = frozenset({
    "C1", "C2", "D1", "E1", "J1", "J2", "J3", "L1", "L2", "L3", "V2", "V3", "V4",
})
RESPITE_LEGAL_STATUSES: Final = frozenset({"V3", "V4"})

#: Telephone number types a school may be given, in order of preference after IS_PRIMARY.
PUBLISHABLE_NUMBER_TYPES: Final = ("WORK", "MOBILE")

#: Police notification types that count as domestic abuse.
DOMESTIC_ABUSE_NOTIFICATIONS: Final = frozenset({"DA"})

#: DM_PERSON_REFERENCES types used to match a case person to a pupil.
REFERENCE_UPN: Final = "UPN"
REFERENCE_EMS: Final = "EMS"

#: Census enrolment statuses. C, M and S are on roll; G (guest) and F (further education) are not.
ENROLMENT_STATUSES: Final = frozenset({"C", "M", "S", "G", "F"})
ON_ROLL_STATUSES: Final = frozenset({"C", "M", "S"})

SCHOOL_PHASES: Final = (
    "Nursery", "Infant", "Junior", "Primary", "Secondary", "Special", "All-through",
    "Alternative provision",
)

STARTING_POINT_NAME: Final = "Starting Point"
STARTING_POINT_PHONE: Final = "01629 533190"
DV_LOOKBACK_MONTHS: Final = 12

YES: Final = "Y"
NO: Final = "N"
OPEN: Final = "Open"
CLOSED: Final = "Closed"
