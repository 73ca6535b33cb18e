"""The school-facing portal and its download ledger.

Stands apart from the nightly run: it reads the drop read-only and serves the encrypted bytes
exactly as published. It never holds the schools' passwords, the keystore or the master key.
"""
