"""The access protocol's duties that the portal carries out for both sides: a school or
partner reporting a concern, a school reporting a leaver, and the council's sample checks of
access. Each keeps a small table of its own state; every step is also a ledger entry."""
