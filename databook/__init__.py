"""The neutral core that both hosts share: settings loading, alert channels, the London clock,
guarded table output, the drop's read side and the download ledger's library.

It imports neither side: the nightly run (``flows``, ``extract``, ``transform``, ``publish``,
``expectations``) and the portal (``portal``) import it, never the reverse, so the
internet-facing portal host installs without the nightly run's heavy libraries and the nightly
host without the portal's web stack.
"""
