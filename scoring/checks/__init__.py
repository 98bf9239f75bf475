"""Check types: one small class each, registered by name, with typed parameters.

A scenario names a check type and gives its parameters; the parameters are
validated when the scenario loads, never mid-exercise. ``run_check`` is how
the engine runs one: under a deadline, every failure an ERROR result.

Every check type reads the range only through ``scoring.probe.Probe``, which
has no way to run a program inside a host: what a trainee with root there can
replace (``grep``, ``python3``, ``/etc/ld.so.preload``, aliases) is never asked.
The kinds are in ``files``, ``accounts``, ``network`` and ``composite``; importing this
package registers them all.
"""
from scoring.checks.base import (
    CHECK_TYPES, REMOVED_CHECK_TYPES, CheckResult, CheckType, Status, register, run_check,
)
# Registered in this order (the order the validator lists them in): files, accounts, network, composite.
from scoring.checks import files, accounts, network, composite  # noqa: F401,I001  (registers the kinds)

__all__ = ["CHECK_TYPES", "REMOVED_CHECK_TYPES", "CheckResult", "CheckType", "Status", "register", "run_check"]
