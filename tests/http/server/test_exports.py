"""The server's public names: pinned, documented, typed."""

from __future__ import annotations

import inspect

import tidal.http
import tidal.http._server

SERVER_NAMES = {
    "ASGIApp",
    "ClientDisconnected",
    "FileBody",
    "Handler",
    "Request",
    "RequestTimeout",
    "Response",
    "Server",
    "ServerLimits",
    "ServerTimeouts",
    "StaticFiles",
    "run",
    "serve",
}


def test_server_names_are_exported_from_tidal_http() -> None:
    assert set(tidal.http._server.__all__) == SERVER_NAMES
    assert SERVER_NAMES <= set(tidal.http.__all__)
    for name in SERVER_NAMES:
        assert getattr(tidal.http, name) is getattr(tidal.http._server, name)


def test_public_classes_and_functions_have_docstrings() -> None:
    for name in SERVER_NAMES:
        value = getattr(tidal.http, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name
            for member_name, member in vars(value).items() if inspect.isclass(value) else []:
                if not member_name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                    assert inspect.getdoc(member), f"{name}.{member_name}"
