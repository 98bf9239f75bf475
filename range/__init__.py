"""Range library: building range images and (later) provisioning per-team ranges.

A plain library: typed inputs, typed results, no Flask or SQLAlchemy. Import
its modules (``from range.images import ...``); never ``import range``.
"""
