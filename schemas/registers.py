"""The council's governance register: the CSV columns and the codes they may hold.

Councils keep these registers in spreadsheets; ``databook schools import`` reads this column
set and ``databook schools export`` writes it, in this order, so an export imports back
unchanged. The register module, the CLI and the README all read the lists here.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

#: Contact with a school that has not returned its protocol or agreement.
NO_CONTACT: Final = "no_contact"
IN_CONVERSATION: Final = "in_conversation"
ENDED_UNRESOLVED: Final = "ended_unresolved"
CONTACT_STATUSES: Final = MappingProxyType({
    NO_CONTACT: "no contact",
    IN_CONVERSATION: "in conversation",
    ENDED_UNRESOLVED: "conversation ended without resolution",
})

#: The register's CSV columns, in order, with what each holds (the README shows this table).
REGISTER_COLUMNS: Final = MappingProxyType({
    "urn": "the school's URN (six digits); one row per school",
    "name": "the school's name",
    "protocol_signed_on": "date the access protocol was signed (blank: not signed)",
    "protocol_signatory_title": "who signed it, e.g. Chair of Governors (needed when signed)",
    "protocol_minute_ref": "governing-body minute recording it (optional)",
    "protocol_version": "the protocol version signed (needed when signed), e.g. 1.0",
    "agreement_signed_on": "date the data-sharing agreement was signed (blank: not signed)",
    "agreement_version": "the agreement version signed (needed when signed), e.g. 2.0",
    "agreement_review_on": "the agreement's review date (needed when signed)",
    "letters": "dates of the letters requesting them, separated by ';'",
    "contact_status": "no_contact, in_conversation or ended_unresolved (blank: no_contact)",
    "note": "a free note (never a child's details)",
})

#: Columns holding free text: a cell starting with one of these would run as a formula when
#: the export is opened in a spreadsheet, so import refuses them.
TEXT_COLUMNS: Final = ("name", "protocol_signatory_title", "protocol_minute_ref", "note")
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")

#: The escalation report's CSV columns, and the lists a school can appear on.
ESCALATION_COLUMNS: Final = ("list", "urn", "name", "first_letter_on", "second_letter_on",
                             "contact_status", "since", "detail")
REQUIRES_ESCALATION: Final = "requires_escalation"
AGREEMENT_OUT_OF_DATE: Final = "agreement_out_of_date"
PROTOCOL_OUT_OF_DATE: Final = "protocol_out_of_date"
NO_NAMED_DSL: Final = "no_named_dsl"
