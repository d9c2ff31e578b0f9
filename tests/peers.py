"""Helpers for tests that talk to real peer programs on loopback."""

from __future__ import annotations

import os
import shutil
import socket

import pytest


def in_ci() -> bool:
    """True when running under CI, where a missing peer is a failure."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_binary(name: str) -> str:
    """Return the path of the program ``name``; skip (or fail under CI) if absent."""
    path = shutil.which(name) or _sbin_lookup(name)
    if path is None:
        message = f"peer program {name!r} is not installed"
        if in_ci():
            pytest.fail(message + " (CI must install it)", pytrace=False)
        pytest.skip(message)
    return path


def _sbin_lookup(name: str) -> str | None:
    # nginx and dnsmasq live in /usr/sbin, which a non-root PATH may omit.
    for directory in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port(family: socket.AddressFamily = socket.AF_INET, kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port the kernel just handed out on loopback.

    Only for programs that must be told a port on their command line; code we
    control binds port 0 itself and reads the port back.
    """
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.socket(family, kind) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
