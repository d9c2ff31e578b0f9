"""The optional C line splitter cuts text exactly as the Python one and ``str.split("\\n")`` do."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidal.protocols.text import _lines
from tidal.protocols.text._lines import python_split_lf

speedups = pytest.importorskip("tidal.protocols.text._speedups", reason="the C splitter was not built")
split_newlines = speedups.split_newlines

# Characters that make every string kind (ASCII, Latin-1, UCS-2, UCS-4) and every line break splitlines() knows.
_ALPHABET = st.sampled_from(list("ab \n\r\x0b\x0c\x1c\x85\u2028\u00e9\u4e2d\U0001f600"))


@given(text=st.text(alphabet=_ALPHABET, max_size=300), keepends=st.booleans())
def test_c_and_python_agree_and_match_str_split(text: str, keepends: bool) -> None:
    lines = split_newlines(text, keepends)
    carry = lines.pop()
    assert (lines, carry) == python_split_lf(text, keepends)
    parts = text.split("\n")
    assert carry == parts[-1]
    assert lines == ([part + "\n" for part in parts[:-1]] if keepends else parts[:-1])


@pytest.mark.parametrize("text", ["", "\n", "\n\n", "abc", "abc\n", "\nabc", "a\nb\nc", "é\n" * 1000, "中\n\U0001f600"])
def test_edges(text: str) -> None:
    for keepends in (False, True):
        lines = split_newlines(text, keepends)
        assert lines[-1] == text.split("\n")[-1]
        assert "".join(lines) == (text if keepends else text.replace("\n", ""))


def test_long_lines_and_kinds_of_result() -> None:
    line = "x" * 100_000
    assert split_newlines(f"{line}\n{line}", True) == [line + "\n", line]
    ascii_piece, latin_piece = split_newlines("abc\nd\u00e9f", False)
    assert ascii_piece.isascii() and not latin_piece.isascii()


def test_wrong_arguments_raise_type_error() -> None:
    with pytest.raises(TypeError):
        split_newlines(b"bytes\n", True)
    with pytest.raises(TypeError):
        split_newlines("text")  # type: ignore[call-arg]


def test_the_splitter_uses_the_c_function_unless_told_not_to() -> None:
    if not os.environ.get("TIDAL_NO_SPEEDUPS"):
        assert _lines._split_newlines is split_newlines
    code = "from tidal.protocols.text import _lines; print(_lines._split_newlines is None)"
    env = {"TIDAL_NO_SPEEDUPS": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"
