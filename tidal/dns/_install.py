"""Answering ``loop.getaddrinfo`` with a :class:`Resolver` instead of a thread.

tidal's loop may not import :mod:`tidal.dns` (the layering points down), so
the connection is made from this side: :func:`install_getaddrinfo` hands the
loop a hook, ``hook(host, port, family, type, proto, flags)`` returning an
awaitable of the stdlib's result list.  A loop that offers
``set_getaddrinfo_hook(hook)`` gets it through that method; on any other
loop whose instances accept attributes (asyncio's pure-Python loops) the
instance's ``getaddrinfo`` is replaced, because asyncio's
``BaseEventLoop`` resolves through ``self.getaddrinfo``.  Any other loop
(uvloop resolves inside its compiled core and would never call a
replacement) gets a ``TypeError`` rather than a hook that silently does
nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ._resolver import Resolver

__all__ = ["install_getaddrinfo", "uninstall_getaddrinfo", "GetaddrinfoHook"]

GetaddrinfoHook = Callable[[Any, Any, int, int, int, int], Awaitable[list[tuple[Any, Any, int, str, Any]]]]
"""``hook(host, port, family, type, proto, flags)``: what the loop awaits."""

_ATTRIBUTE = "_tidal_dns_resolver"


def install_getaddrinfo(loop: asyncio.AbstractEventLoop, resolver: Resolver | None = None) -> Resolver:
    """Make ``loop.getaddrinfo`` use ``resolver`` (a new system-configured one by default).

    Returns the resolver in use.  Raises ``TypeError`` for a loop that can
    take neither a hook nor an instance attribute (uvloop).
    """
    resolver = resolver if resolver is not None else Resolver()
    hook = _make_hook(resolver)
    setter = getattr(loop, "set_getaddrinfo_hook", None)
    try:
        if setter is not None:
            setter(hook)
        elif isinstance(loop, asyncio.BaseEventLoop):
            setattr(loop, "getaddrinfo", _as_method(hook))
        else:
            raise TypeError
        setattr(loop, _ATTRIBUTE, resolver)
    except (AttributeError, TypeError):
        raise TypeError(f"{type(loop).__qualname__} does not let its getaddrinfo be replaced") from None
    return resolver


def uninstall_getaddrinfo(loop: asyncio.AbstractEventLoop) -> None:
    """Undo :func:`install_getaddrinfo`: the loop's own getaddrinfo answers again.

    On tidal's loop this also removes the hook ``tidal.new_event_loop()``
    sets, so libc answers in the default executor.
    """
    setter = getattr(loop, "set_getaddrinfo_hook", None)
    if setter is not None:
        setter(None)
    elif getattr(loop, _ATTRIBUTE, None) is not None:
        delattr(loop, "getaddrinfo")
    if getattr(loop, _ATTRIBUTE, None) is not None:
        delattr(loop, _ATTRIBUTE)


def _make_hook(resolver: Resolver) -> GetaddrinfoHook:
    async def hook(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[tuple[Any, Any, int, str, Any]]:
        return await resolver.getaddrinfo(host, port, family, type, proto, flags)

    return hook


def _as_method(hook: GetaddrinfoHook) -> Callable[..., Awaitable[list[tuple[Any, Any, int, str, Any]]]]:
    # loop.getaddrinfo takes family/type/proto/flags as keywords.
    async def getaddrinfo(
        host: Any, port: Any, *, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[tuple[Any, Any, int, str, Any]]:
        return await hook(host, port, family, type, proto, flags)

    return getaddrinfo
