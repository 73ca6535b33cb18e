"""Errors in publishing or key handling, each a single line an officer can act on."""


class PublishError(Exception):
    """The drop could not be written; the previous run is untouched."""


class KeystoreError(Exception):
    """The keystore cannot be opened (missing or wrong master key, damaged file)."""
