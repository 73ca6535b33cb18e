"""Wiring only: settings, the Prefect flow and the command line. The work lives in
``extract``, ``transform`` and ``publish``."""
