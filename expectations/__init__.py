"""Validation: Great Expectations suites kept here as JSON, the frames they run on, the drift
gate against the previous signed run, and the data-quality report.

Only ``gx_run`` imports Great Expectations (about 2 s and 200 MB), and only when a run
validates.
"""
