"""Sans-IO protocol engines: bytes in, events out, no I/O and no clock.

Each engine lives in its own subpackage or module (``tidal.protocols.http``,
``.dns``, ``.tls``, ``.compression``, ``.text``) and imports only the standard
library, h11 and dnspython.  See ``docs/protocols.md``.
"""

from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError

__all__ = ["ProtocolError", "LocalProtocolError", "RemoteProtocolError"]
