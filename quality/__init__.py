"""The data-quality workbench: findings tracked run to run, the worklist, the accepted-finding
register, the plain-English catalogue, the run's report and the weekly summary.

Nightly host only; no Prefect here (``flows`` calls it)."""
