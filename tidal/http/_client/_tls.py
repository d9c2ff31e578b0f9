"""TLS settings for the client: one :class:`ssl.SSLContext` per client.

Verification is on by default against the system's trust store; ``certifi``
is consulted only when the system store is empty (containers without
ca-certificates).  ``verify`` may also be a CA bundle file or directory, an
``SSLContext`` used as is, or False (no verification: testing only).  The
context offers ALPN ``http/1.1`` (the only protocol this client speaks) and
TLS 1.2 as the minimum.  SNI and the hostname check use the URL's host.
"""

from __future__ import annotations

import os
import ssl
from typing import Union

__all__ = ["VerifyTypes", "CertTypes", "create_ssl_context"]

VerifyTypes = Union[bool, str, os.PathLike[str], ssl.SSLContext]
CertTypes = Union[str, os.PathLike[str], tuple[str, str], tuple[str, str, str]]


def create_ssl_context(verify: VerifyTypes = True, cert: CertTypes | None = None) -> ssl.SSLContext:
    """The client context for ``verify`` (see the module docstring) and an optional client certificate.

    ``cert`` is a PEM file holding certificate and key, or (certificate file,
    key file), or (certificate file, key file, key password).
    """
    if isinstance(verify, ssl.SSLContext):
        context = verify
    elif verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif verify is True:
        context = ssl.create_default_context()
        if not context.cert_store_stats().get("x509_ca"):
            _load_certifi(context)
    else:
        path = os.fspath(verify)
        context = ssl.create_default_context(cafile=path if os.path.isfile(path) else None,
                                             capath=path if os.path.isdir(path) else None)
        if not os.path.exists(path):
            raise FileNotFoundError(f"verify= names no CA bundle file or directory: {path!r}")
    if not isinstance(verify, ssl.SSLContext):
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
    if cert is not None:
        _load_client_certificate(context, cert)
    return context


def _load_certifi(context: ssl.SSLContext) -> None:
    try:
        import certifi
    except ImportError:
        return
    context.load_verify_locations(cafile=certifi.where())


def _load_client_certificate(context: ssl.SSLContext, cert: CertTypes) -> None:
    if isinstance(cert, tuple):
        certfile, keyfile, *password = cert
        context.load_cert_chain(certfile, keyfile, password[0] if password else None)
    else:
        context.load_cert_chain(os.fspath(cert))
