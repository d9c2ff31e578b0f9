"""Sans-IO incremental text decoding: charset choice, BOM, universal newlines, lines.

:class:`TextDecoder` turns a byte stream into text whatever the chunking (a
multibyte character or a ``\\r\\n`` cut across chunks), choosing the encoding
from a declared charset, then a BOM, then UTF-8.  :class:`LineSplitter`
splits text chunks into lines with a line-length limit, and
:class:`LineDecoder` does both, bytes in and lines out.  See
``docs/protocols/text.md``.
"""

from ._charset import charset_from_content_type
from ._decoder import TextDecoder
from ._errors import InvalidTextError, LineTooLongError, TextError, TextUsageError, UnknownEncodingError
from ._lines import DEFAULT_MAX_LINE_LENGTH, LineDecoder, LineSplitter

__all__ = [
    "TextDecoder",
    "LineSplitter",
    "LineDecoder",
    "charset_from_content_type",
    "DEFAULT_MAX_LINE_LENGTH",
    "TextError",
    "InvalidTextError",
    "LineTooLongError",
    "UnknownEncodingError",
    "TextUsageError",
]
