"""The contracts every other part reads: source tables, code lists and the published databook.

Nothing outside this package spells out a column name, a header or a default code list.
"""
