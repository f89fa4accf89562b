"""Registry of architectures: register_model, get_model, list_models (torchvision style)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from colorcli.errors import ModelError

BodyBuilder = Callable[..., nn.Module]
_B = TypeVar("_B", bound=BodyBuilder)

_BODIES: dict[str, BodyBuilder] = {}


def register_model(name: str) -> Callable[[_B], _B]:
    """Decorator registering a body builder under ``name``; duplicate names are refused."""

    def wrap(builder: _B) -> _B:
        if name in _BODIES:
            raise ModelError(f"an architecture named {name!r} is already registered")
        _BODIES[name] = builder
        return builder

    return wrap


def list_models() -> list[str]:
    """Names of all registered architectures, sorted."""
    return sorted(_BODIES)


def get_body_builder(name: str) -> BodyBuilder:
    """The builder registered under ``name``; unknown names list the valid ones."""
    try:
        return _BODIES[name]
    except KeyError:
        raise ModelError(
            f"unknown architecture {name!r}; available: {', '.join(list_models())}"
        ) from None


def build_body(name: str, config: dict[str, Any]) -> nn.Module:
    """Build the body ``name`` with keyword ``config``; bad keywords become a ModelError."""
    builder = get_body_builder(name)
    try:
        return builder(**config)
    except TypeError as error:
        raise ModelError(f"bad configuration for architecture {name!r}: {error}") from None
