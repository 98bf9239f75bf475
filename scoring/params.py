"""Field types shared by check and action parameters (validated when a scenario loads)."""
from __future__ import annotations

import re
from typing import Annotated, Any, Callable, ClassVar, TypeVar

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

# Parameters are frozen dataclasses that refuse unknown keys.
PARAMS_CONFIG = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

HostId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
AbsolutePath = Annotated[str, StringConstraints(pattern=r"^/[^\x00]*$", max_length=4096)]
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0, le=600)]


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return pattern


Regex = Annotated[str, AfterValidator(_compiles)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Command = Annotated[str, StringConstraints(min_length=1, max_length=20000)] | Annotated[
    list[Annotated[str, StringConstraints(max_length=20000)]], Field(min_length=1)
]
UnixUser = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")]
Password = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
FileMode = Annotated[str, StringConstraints(pattern=r"^0?[0-7]{3,4}$")]


class ParamsKind:
    """A registered kind (a check type, an inject action): a name, a summary, typed parameters.

    ``host_fields`` and ``url_fields`` name the parameters that refer to hosts,
    so references can be validated when the scenario loads.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type]
    host_fields: ClassVar[tuple[str, ...]] = ("host",)
    url_fields: ClassVar[tuple[str, ...]] = ()


K = TypeVar("K", bound=type[ParamsKind])


def registrar(registry: dict[str, Any], what: str, *, requires: str | None = None) -> Callable[[str], Callable[[K], K]]:
    """A ``register(name)`` decorator filling *registry*.

    A name registered twice is an error, and so is a class that does not
    define the method *requires* itself (a kind that cannot do its job).
    """

    def register(name: str) -> Callable[[K], K]:
        def decorator(cls: K) -> K:
            if name in registry:
                raise ValueError(f"{what} {name!r} registered twice")
            if requires is not None and requires not in vars(cls):
                raise TypeError(f"{what} {name!r} ({cls.__name__}) defines no {requires}()")
            cls.name = name
            registry[name] = cls
            return cls

        return decorator

    return register
