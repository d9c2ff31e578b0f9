"""``python -m tidal dig``: look a name up with :mod:`tidal.dns` and print it the way dig does.

``dig NAME [TYPE] [@server[:port]] [+tcp] [+short] [+search] [+0x20]
[+timeout=SECONDS] [+tries=N]`` and ``dig -x ADDRESS`` for reverse lookups.
Without ``@server`` the system's resolv.conf servers are asked.  Like dig,
the search list is not applied unless ``+search`` is given, and the hosts
file is not read.  Exit status: 0 when a server answered (NXDOMAIN
included), 9 when none did in time, 1 for an unusable answer.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["add_parser", "DigRequest", "parse_request", "run_dig"]

_NO_REPLY = 9
_BAD_REPLY = 1


@dataclass
class DigRequest:
    """What to ask, parsed from dig-style arguments."""

    name: str
    rdtype: str = "A"
    server: str | None = None
    tcp: bool = False
    short: bool = False
    search: bool = False
    use_0x20: bool = False
    timeout: float | None = None
    tries: int | None = None
    reverse: bool = False
    shown: list[str] = field(default_factory=list)


def add_parser(subparsers: Any) -> None:
    """Register the ``dig`` subcommand."""
    parser = subparsers.add_parser(
        "dig",
        help="look up DNS records with tidal's resolver",
        description="dig NAME [TYPE] [@server[:port]] [+tcp] [+short] [+search] [+0x20] "
        "[+timeout=S] [+tries=N]; dig -x ADDRESS",
    )
    parser.add_argument("-x", dest="reverse", metavar="ADDRESS", help="reverse lookup (PTR) of an IP address")
    parser.add_argument("words", nargs="*", metavar="ARG", help="NAME, TYPE, @server[:port] and +options")
    parser.set_defaults(handler=_handle)


def parse_request(words: Sequence[str], reverse: str | None = None) -> DigRequest:
    """Turn dig-style words into a :class:`DigRequest` (``ValueError`` on nonsense)."""
    plain: list[str] = []
    request = DigRequest(name="")
    for word in words:
        if word.startswith("@"):
            request.server = word[1:]
        elif word.startswith("+"):
            _apply_option(request, word[1:])
        else:
            plain.append(word)
    if reverse is not None:
        from tidal.dns import reverse_name

        request.name, request.rdtype, request.reverse = reverse_name(reverse), "PTR", True
        plain_types = plain
    else:
        if not plain:
            raise ValueError("a NAME to look up is required")
        request.name, plain_types = plain[0], plain[1:]
    if len(plain_types) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(plain_types[1:])}")
    if plain_types:
        request.rdtype = plain_types[0].upper()
    request.shown = list(words)
    return request


def _apply_option(request: DigRequest, option: str) -> None:
    key, _, value = option.partition("=")
    flags = {"tcp": "tcp", "vc": "tcp", "short": "short", "search": "search", "0x20": "use_0x20"}
    if key in flags and not value:
        setattr(request, flags[key], True)
    elif key.startswith("no") and key[2:] in flags and not value:
        setattr(request, flags[key[2:]], False)
    elif key == "timeout" and value:
        request.timeout = float(value)
    elif key == "tries" and value.isdigit() and int(value) > 0:
        request.tries = int(value)
    else:
        raise ValueError(f"unknown option +{option}")


def _handle(arguments: argparse.Namespace) -> int:
    import sys

    import tidal

    try:
        request = parse_request(arguments.words, arguments.reverse)
    except ValueError as error:
        print(f"dig: {error}", file=sys.stderr)
        return 2
    return tidal.run(run_dig(request, sys.stdout))


async def run_dig(request: DigRequest, out: TextIO) -> int:
    """Ask, print the outcome dig-style to ``out``, return the exit status."""
    from tidal import dns

    options: dict[str, Any] = {"hosts_file": None, "cache": False, "use_0x20": request.use_0x20}
    if request.timeout is not None:
        options["timeout"] = request.timeout
    if request.tries is not None:
        options["attempts"] = request.tries
    servers = [request.server] if request.server is not None else None
    resolver = dns.Resolver(servers, **options)
    started = time.perf_counter()
    try:
        answer: dns.Answer | None = await resolver.resolve(
            request.name, request.rdtype, search=request.search, tcp=request.tcp
        )
        failure: dns.DNSError | None = None
    except dns.DNSError as error:
        answer, failure = None, error
    elapsed = time.perf_counter() - started
    if request.short:
        return _print_short(answer, failure, out)
    return _print_full(request, resolver, answer, failure, elapsed, out)


_STATUS = {
    "NXDomain": "NXDOMAIN",
    "NoAnswer": "NOERROR",
    "ServFail": "SERVFAIL",
    "Refused": "REFUSED",
}


def _print_short(answer: Any, failure: Any, out: TextIO) -> int:
    if answer is not None:
        for _, target in answer.cname_chain:
            print(target, file=out)
        for record in answer.records:
            print(presentation(record), file=out)
        return 0
    if type(failure).__name__ in _STATUS:
        return 0  # dig +short prints nothing for NXDOMAIN or NODATA
    print(f";; {failure}", file=out)
    return _NO_REPLY if type(failure).__name__ == "DNSTimeout" else _BAD_REPLY


def _print_full(request: DigRequest, resolver: Any, answer: Any, failure: Any, elapsed: float, out: TextIO) -> int:
    transport = "TCP" if request.tcp or resolver.tcp else "UDP"
    print(f"; <<>> tidal dig <<>> {' '.join(request.shown) or request.name}", file=out)
    status = _STATUS.get(type(failure).__name__) if failure is not None else "NOERROR"
    if status is None:
        print(f";; {failure}", file=out)
        return _NO_REPLY if type(failure).__name__ == "DNSTimeout" else _BAD_REPLY
    asked = answer.name if answer is not None else (failure.name or request.name)
    print(f";; ->>HEADER<<- opcode: QUERY, status: {status}", file=out)
    print(f";; QUESTION SECTION:\n;{asked}\t\t\tIN\t{request.rdtype}\n", file=out)
    if answer is not None:
        print(";; ANSWER SECTION:", file=out)
        for alias, target in answer.cname_chain:
            print(f"{alias}\t\t{answer.ttl}\tIN\tCNAME\t{target}", file=out)
        for record in answer.records:
            print(f"{answer.canonical_name}\t\t{answer.ttl}\tIN\t{answer.rdtype}\t{presentation(record)}", file=out)
        print(file=out)
    server = answer.server if answer is not None else (failure.servers[-1] if failure.servers else None)
    server = server or str(resolver.nameservers[0])  # a negative answer names no server: the first was asked
    print(f";; Query time: {elapsed * 1000:.1f} msec", file=out)
    print(f";; SERVER: {server} ({transport})", file=out)
    print(f";; WHEN: {time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}", file=out)
    return 0


def presentation(record: Any) -> str:
    """One record's data in zone-file presentation form, as dig prints it."""
    from tidal import dns

    if isinstance(record, str):
        return record
    if isinstance(record, dns.MXRecord):
        return f"{record.preference} {record.exchange}"
    if isinstance(record, dns.TXTRecord):
        return " ".join(_quoted(part) for part in record.strings)
    if isinstance(record, dns.SRVRecord):
        return f"{record.priority} {record.weight} {record.port} {record.target}"
    if isinstance(record, dns.SOARecord):
        return (f"{record.mname} {record.rname} {record.serial} {record.refresh} {record.retry} "
                f"{record.expire} {record.minimum}")
    if isinstance(record, dns.CAARecord):
        return f"{record.flags} {record.tag} {_quoted(record.value)}"
    if isinstance(record, dns.SVCBRecord):
        params = " ".join(f"{key}={value}" if value else key for key, value in record.params)
        return f"{record.priority} {record.target} {params}".rstrip()
    return str(record.text)


def _quoted(data: bytes) -> str:
    text = "".join(
        chr(byte) if 0x20 <= byte < 0x7F and byte not in (0x22, 0x5C) else
        f"\\{chr(byte)}" if byte in (0x22, 0x5C) else f"\\{byte:03d}"
        for byte in data
    )
    return f'"{text}"'
