"""Authentication: HTTP Basic (RFC 7617) and Digest (RFC 7616).

``auth=("user", "pass")`` or :class:`BasicAuth` adds the header up front.
:class:`DigestAuth` needs the server's challenge first: the client sends the
request, and on a 401 with a Digest challenge computes the response and sends
the request once more (the body must be replayable).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable

from .._headers import Headers

__all__ = ["Auth", "BasicAuth", "DigestAuth", "AuthTypes", "coerce_auth"]


class Auth:
    """Base class: ``apply`` adds credentials before sending; ``retry_headers`` answers a 401."""

    def apply(self, method: str, target: str, headers: Headers) -> None:
        """Add credentials to an outgoing request."""

    def retry_headers(self, method: str, target: str, headers: Headers, challenge_headers: Headers) -> Headers | None:
        """Headers for a second attempt after a 401, or None to give up."""
        return None


class BasicAuth(Auth):
    """``Authorization: Basic`` with a user name and password (UTF-8, RFC 7617 §2.1)."""

    def __init__(self, username: str, password: str) -> None:
        token = base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")
        self._header = f"Basic {token}"

    def apply(self, method: str, target: str, headers: Headers) -> None:
        """Set the ``Authorization`` header."""
        headers["Authorization"] = self._header


_PARAM = re.compile(r'(\w+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)')
_HASHES: dict[str, Callable[[bytes], "hashlib._Hash"]] = {
    "MD5": hashlib.md5,
    "MD5-SESS": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA-256-SESS": hashlib.sha256,
}


class DigestAuth(Auth):
    """``Authorization: Digest`` computed from the server's 401 challenge (qop=auth, MD5 or SHA-256).

    A challenge naming another algorithm raises ``ValueError`` (the 401
    response is closed first).
    """

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        self._nonce_count = 0

    def retry_headers(self, method: str, target: str, headers: Headers, challenge_headers: Headers) -> Headers | None:
        """The request headers with a Digest answer to the challenge, or None if there is none."""
        for value in challenge_headers.get_all("www-authenticate"):
            if value[:7].lower() == "digest ":
                params = {key.lower(): _unquote(item) for key, item in _PARAM.findall(value[7:])}
                answered = headers.copy()
                answered["Authorization"] = self._answer(method, target, params)
                return answered
        return None

    def _client_nonce(self) -> str:
        return os.urandom(8).hex()

    def _answer(self, method: str, target: str, challenge: dict[str, str]) -> str:
        algorithm = challenge.get("algorithm", "MD5").upper()
        hash_function = _HASHES.get(algorithm)
        if hash_function is None:
            raise ValueError(f"unsupported Digest algorithm {algorithm!r}")

        def digest(text: str) -> str:
            return hash_function(text.encode("utf-8")).hexdigest()

        realm, nonce = challenge.get("realm", ""), challenge.get("nonce", "")
        self._nonce_count += 1
        nc = f"{self._nonce_count:08x}"
        cnonce = self._client_nonce()
        ha1 = digest(f"{self._username}:{realm}:{self._password}")
        if algorithm.endswith("-SESS"):
            ha1 = digest(f"{ha1}:{nonce}:{cnonce}")
        ha2 = digest(f"{method}:{target}")
        qops = [item.strip() for item in challenge.get("qop", "").split(",") if item.strip()]
        fields = [f'username="{self._username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{target}"',
                  f"algorithm={algorithm}"]
        if "auth" in qops:
            response = digest(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
        else:
            response = digest(f"{ha1}:{nonce}:{ha2}")
        fields.append(f'response="{response}"')
        if "opaque" in challenge:
            fields.append(f'opaque="{challenge["opaque"]}"')
        return "Digest " + ", ".join(fields)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


AuthTypes = Auth | tuple[str, str]


def coerce_auth(auth: AuthTypes | None) -> Auth | None:
    """An :class:`Auth` from an ``Auth`` or a (user, password) pair (Basic)."""
    if auth is None or isinstance(auth, Auth):
        return auth
    username, password = auth
    return BasicAuth(username, password)
