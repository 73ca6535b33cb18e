"""The one error the transform raises on purpose: the source cannot make a databook at all."""


class DataError(Exception):
    """The source data, not the code, stops the run (no case person matches any pupil, nothing
    had started by the as-at date, ...).

    The message says what is wrong and where (table, column, row id), never a value from a
    row: it reaches the terminal, the run record and the alert channels.
    """
