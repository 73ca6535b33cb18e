"""The nightly host's command groups of ``databook`` (the dispatcher is ``databook.cli``)."""
