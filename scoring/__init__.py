"""Scoring library: check types and pure point formulas (the scoring issue fills it).

Like ``range``, a plain library: it never imports ``app``, Flask or SQLAlchemy.
"""
