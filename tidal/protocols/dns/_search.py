"""The names to try for a lookup, in the order glibc's ``res_nsearch`` tries them.

* A name ending in a dot is absolute: only it is tried.
* A name with at least ``ndots`` dots is tried as is first.
* Then the name with each search domain appended, in order.
* Then, if it was not tried first, the name as is, except that a name
  without any dot is not tried as is under ``no-tld-query``.

Which outcome moves on to the next candidate (NXDOMAIN, NODATA, SERVFAIL
or a timeout do; an answer stops) is the resolver's business.
"""

from __future__ import annotations

__all__ = ["search_candidates"]


def search_candidates(
    name: str, search: tuple[str, ...] | list[str], ndots: int, *, no_tld_query: bool = False
) -> tuple[str, ...]:
    """Absolute names (trailing dot) to try, in order, for ``name``.

    Search domains may be written with or without a trailing dot; empty and
    root (``.``) entries are skipped.  Duplicates are dropped, keeping the
    first occurrence.
    """
    if name.endswith("."):
        return (name,)
    dots = name.count(".")
    as_is = name + "."
    candidates: dict[str, None] = {}
    if dots >= ndots:
        candidates[as_is] = None
    for domain in search:
        domain = domain.rstrip(".")
        if domain:
            candidates[f"{name}.{domain}."] = None
    if dots < ndots and not (dots == 0 and no_tld_query):
        candidates[as_is] = None
    return tuple(candidates)
