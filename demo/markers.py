"""Text planted in the columns the extract must never read, so tests can search every output
for it: if any of these strings appears in a workbook, a report or a log, free text or
police-sourced data has leaked."""

NOTE_MARK = "SENTINEL-NOTE"
DETAILS_MARK = "SENTINEL-PSN-DETAILS"
POLICE_REF_MARK = "SENTINEL-PSN-REF"
FORBIDDEN_MARKERS = (NOTE_MARK, DETAILS_MARK, POLICE_REF_MARK)
