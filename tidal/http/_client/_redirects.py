"""Following redirects: which request a 3xx response asks for (RFC 9110 §15.4).

A pure decision: :func:`next_request` takes the request and the response and
returns the request to send next, or None when the response is not a
redirect the client should follow.

* 301 and 302: POST becomes GET without a body (what every browser does and
  RFC 9110 §15.4.2-3 permits); other methods are kept.
* 303: anything but HEAD becomes GET without a body.
* 307 and 308: method and body are kept; a body that was a one-shot stream
  cannot be sent again, so the redirect is not followed.
* Across origins, ``Authorization``, ``Proxy-Authorization`` and ``Cookie``
  are dropped (the cookie jar adds the new origin's own cookies).
* A ``Location`` without a fragment inherits the request's (§10.2.2).
"""

from __future__ import annotations

from ._errors import InvalidURL
from ._models import ClientRequest, ClientResponse
from ._urls import URL

__all__ = ["next_request", "REDIRECT_STATUSES"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS = ("content-length", "content-type", "content-encoding", "transfer-encoding")
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")


def next_request(request: ClientRequest, response: ClientResponse) -> ClientRequest | None:
    """The request a redirect asks for, or None if ``response`` is not one to follow."""
    if response.status not in REDIRECT_STATUSES or "location" not in response.headers:
        return None
    try:
        url = request.url.join(response.headers["location"])
    except InvalidURL as exc:
        raise InvalidURL(f"redirect from {request.url} to an unusable location: {exc}") from None
    if not url.fragment and request.url.fragment:
        url = URL(url.scheme, url.host, url.port, url.path, url.query, request.url.fragment, url.username, url.password)
    method = _redirect_method(request.method, response.status)
    headers = request.headers.copy()
    body = request.body
    if method != request.method or response.status in (301, 302, 303) and method == "GET":
        body = None
        for name in _BODY_HEADERS:
            headers.pop(name, None)
    elif body is not None and not body.replayable:
        return None
    if url.origin != request.url.origin:
        for name in _CREDENTIAL_HEADERS:
            headers.pop(name, None)
    headers.pop("host", None)
    return ClientRequest.derived(method, url, headers, body)


def _redirect_method(method: str, status: int) -> str:
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method
