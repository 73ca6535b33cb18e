"""The portal's command groups for ``databook`` (see flows/cli: each has register() and ERRORS)."""
