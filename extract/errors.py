"""Errors a person can act on: each message is one line naming the source and the fault."""


class SourceError(Exception):
    """A source cannot be read as the contract expects (unreachable, missing table, empty).

    ``transient`` marks faults worth retrying (a dropped or refused connection); a missing
    table or an empty roll will not mend itself in thirty seconds.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
