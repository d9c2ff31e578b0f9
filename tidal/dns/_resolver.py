"""The stub resolver: search list, cache, shared in-flight queries, servers.

Theory of operation
-------------------
``resolve(name, rdtype)`` expands ``name`` into candidate names the way
glibc's ``res_nsearch`` does (:func:`tidal.protocols.dns.search_candidates`)
and looks each up until one has an answer.  NXDOMAIN and NODATA move on to
the next candidate, as does a candidate whose servers all failed (SERVFAIL,
REFUSED); a timeout ends the search, because the deadline is spent.

One lookup of one absolute name:

1. the cache (the engine's :class:`~tidal.protocols.dns.DNSCache`, on the
   resolver's ``clock``) answers positive and negative outcomes alike;
2. an identical lookup already on the wire is joined instead of repeated
   (keyed by lower-cased name, type and transport);
3. otherwise the caller (the *leader*) queries the servers itself, in its
   own task -- no task is spawned per query: ``attempts`` rounds over the
   server list (starting one further on each query with ``rotate``), each
   try waiting ``timeout`` seconds at most, and the whole query bounded by
   ONE absolute deadline that covers every try, the TCP fallback and the
   wait for a slot under the global concurrency limit.  An answer, NXDOMAIN
   or NODATA ends it; SERVFAIL, REFUSED, a malformed answer or silence moves
   to the next server.  A server that answers FORMERR to the EDNS0 query is
   asked again without EDNS0 (RFC 6891 §7).  Callers asking the same question meanwhile
   (*followers*) each wait on a future of their own and get the leader's
   result; if the leader is cancelled, they start over (one of them becomes
   the new leader), so one caller's cancellation never fails the others.

Errors name what happened: :class:`NXDomain`, :class:`NoAnswer`,
:class:`ServFail`, :class:`Refused`, :class:`BadResponse`, and
:class:`DNSTimeout` carrying the servers that were tried.  When the
deadline passes after only malformed responses arrived, the error is
:class:`BadResponse` naming them rather than a bare timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from tidal.protocols import dns as engine
from tidal.protocols.dns import Outcome, OutcomeKind

from . import _errors as errors
from ._answers import Answer, answer_from_outcome, type_name
from ._config import Nameserver, nameservers_from, read_hosts, read_resolv_conf
from ._limit import ConcurrencyLimit
from ._transport import TryTimedOut, tcp_exchange, udp_exchange

__all__ = ["Resolver", "reverse_name"]

# Small memo tables (input name -> candidates; outcome -> converted answer)
# are dropped wholesale when they reach this size: simpler than an LRU and
# they only exist to make cache hits cheap.
_MEMO_LIMIT = 8192
_FINAL = frozenset({OutcomeKind.ANSWER, OutcomeKind.NXDOMAIN, OutcomeKind.NODATA})
_PTR = 12
_FORMERR = 1
_PLAIN_UDP_LIMIT = 512  # RFC 1035 §4.2.1: a UDP message without EDNS

_LookupResult = tuple[Outcome, int, str | None]  # outcome, ttl left, server (None: cache)
_Key = tuple[str, int, bool]


class Resolver:
    """An asynchronous DNS stub resolver.

    Settings not given here come from ``resolv_conf`` (see
    ``docs/dns.md``): ``nameservers`` ("ip", "ip:port" or "[v6]:port"; bare
    addresses use ``port``), ``search`` domains, ``ndots``, ``timeout``
    (seconds per try), ``attempts`` (rounds over the servers) and
    ``rotate``.  ``hosts_file`` feeds :meth:`getaddrinfo` (``None``: no hosts
    file).  ``cache`` enables the TTL cache (``max_cache_entries`` bounds
    it; ``clock`` is the monotonic clock it runs on).  ``use_0x20``
    randomizes the case of query names and requires answers to echo it.
    ``max_concurrency`` bounds the queries on the wire at once; ``tcp``
    sends every query over TCP (also set by ``options use-vc``).
    """

    def __init__(
        self,
        nameservers: Sequence[str] | None = None,
        *,
        port: int = 53,
        search: Sequence[str] | None = None,
        ndots: int | None = None,
        timeout: float | None = None,
        attempts: int | None = None,
        rotate: bool | None = None,
        hosts_file: str | None = "/etc/hosts",
        resolv_conf: str | None = "/etc/resolv.conf",
        cache: bool = True,
        use_0x20: bool = False,
        max_cache_entries: int = 10_000,
        max_concurrency: int = 256,
        tcp: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolv_conf_path = resolv_conf
        self._hosts_path = hosts_file
        self._overrides: dict[str, Any] = {
            "nameservers": None if nameservers is None else list(nameservers),
            "search": None if search is None else tuple(search),
            "ndots": ndots,
            "timeout": timeout,
            "attempts": attempts,
            "rotate": rotate,
            "tcp": tcp,
        }
        self.port = port
        self.use_0x20 = use_0x20
        self.clock = clock
        self.cache = engine.DNSCache(max_cache_entries) if cache else None
        self._limit = ConcurrencyLimit(max_concurrency)
        self._inflight: dict[_Key, _Flight] = {}
        self._rotation = itertools.count()
        self._candidates: dict[str, tuple[str, ...]] = {}
        self._converted: dict[tuple[str, int], tuple[Outcome, Answer]] = {}
        self._hot: OrderedDict[tuple[str, str | int, bool], tuple[float, Answer]] = OrderedDict()
        self._hot_limit = max(max_cache_entries, 1)
        self.reload()

    # -- configuration --------------------------------------------------------

    def reload(self) -> None:
        """Re-read the resolv.conf and hosts files (explicit arguments still win)."""
        conf = read_resolv_conf(self._resolv_conf_path)
        given = self._overrides
        servers = given["nameservers"] if given["nameservers"] is not None else list(conf.nameservers)
        self.nameservers: tuple[Nameserver, ...] = nameservers_from(servers, self.port)
        self.search: tuple[str, ...] = given["search"] if given["search"] is not None else conf.search
        self.ndots: int = conf.ndots if given["ndots"] is None else given["ndots"]
        self.timeout: float = float(conf.timeout if given["timeout"] is None else given["timeout"])
        self.attempts: int = conf.attempts if given["attempts"] is None else given["attempts"]
        self.rotate: bool = conf.rotate if given["rotate"] is None else given["rotate"]
        self.tcp: bool = conf.use_vc if given["tcp"] is None else given["tcp"]
        self.no_tld_query = conf.no_tld_query
        if self.attempts < 1 or self.timeout <= 0 or self.ndots < 0:
            raise ValueError("attempts must be >= 1, timeout > 0 and ndots >= 0")
        self._fixed_order = self.nameservers * self.attempts
        self.hosts = read_hosts(self._hosts_path)
        self._candidates.clear()
        self.clear_cache()

    def clear_cache(self) -> None:
        """Forget every cached answer (positive and negative)."""
        if self.cache is not None:
            self.cache.clear()
        self._hot.clear()
        self._converted.clear()

    @property
    def lifetime(self) -> float:
        """The default deadline of one :meth:`resolve` call: ``timeout`` × ``attempts`` × servers."""
        return self.timeout * self.attempts * len(self.nameservers)

    def candidates(self, name: str) -> tuple[str, ...]:
        """The absolute names :meth:`resolve` tries for ``name``, in order."""
        found = self._candidates.get(name)
        if found is None:
            if len(self._candidates) >= _MEMO_LIMIT:
                self._candidates.clear()
            found = engine.search_candidates(name, self.search, self.ndots, no_tld_query=self.no_tld_query)
            self._candidates[name] = found
        return found

    # -- public lookups -------------------------------------------------------

    async def resolve(
        self, name: str, rdtype: str | int = "A", *, timeout: float | None = None, search: bool = True,
        tcp: bool | None = None,
    ) -> Answer:
        """Look up ``rdtype`` records of ``name``.

        A name without a trailing dot goes through the search list (unless
        ``search`` is false); ``timeout`` bounds the whole call (default
        :attr:`lifetime`); ``tcp`` forces TCP (default :attr:`tcp`).  Raises
        :class:`NXDomain`, :class:`NoAnswer`, :class:`ServFail`,
        :class:`Refused`, :class:`BadResponse` or :class:`DNSTimeout`.
        """
        # The warm path: an answer this exact call already got, still within its TTL.
        hot_key = (name, rdtype, search)
        hot = self._hot.get(hot_key)
        if hot is not None:
            expires, answer = hot
            left = expires - self.clock()
            if left > 0:
                self._hot.move_to_end(hot_key)  # least recently used goes first
                if int(left) == answer.ttl:
                    return answer
                answer = _with_ttl(answer, int(left), None)
                self._hot[hot_key] = (expires, answer)
                return answer
            del self._hot[hot_key]
        return await self._resolve(name, rdtype, timeout, search, tcp, hot_key)

    async def _resolve(
        self, name: str, rdtype: str | int, timeout: float | None, search: bool, tcp: bool | None,
        hot_key: tuple[str, str | int, bool],
    ) -> Answer:
        qtype = engine.rdtype_from(rdtype)
        names = self.candidates(name) if search else (name if name.endswith(".") else name + ".",)
        # The loop is found once per call and handed down: on CPython 3.11
        # each asyncio.get_running_loop() is a getpid() system call.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.lifetime if timeout is None else timeout)
        over_tcp = self.tcp if tcp is None else tcp
        failures: list[tuple[Outcome | None, errors.DNSError | None]] = []
        for candidate in names:
            try:
                outcome, ttl, server = await self._lookup(candidate, qtype, deadline, over_tcp, loop)
            except (errors.ServFail, errors.Refused, errors.BadResponse) as error:
                failures.append((None, error))
                continue
            if outcome.kind is OutcomeKind.ANSWER:
                answer = self._answer(outcome, ttl, server)
                if candidate is names[0]:
                    self._remember(hot_key, answer)
                return answer
            failures.append((outcome, None))
        raise _search_error(name, type_name(qtype), failures)

    def _remember(self, key: tuple[str, str | int, bool], answer: Answer) -> None:
        """Keep ``answer`` for the warm path until its TTL runs out.

        Only an answer to the first candidate name is kept: an earlier
        candidate's negative answer could otherwise expire unnoticed.  The
        expiry is counted from whole seconds of TTL, so it never outlives
        what the cache would allow.  The memo is an LRU bounded like the
        cache; its hits do not pass through the cache, so each keeps the
        entries its own users touch most.
        """
        cache = self.cache
        if cache is None or answer.ttl <= 0:
            return
        hot = self._hot
        ttl = min(answer.ttl, cache.max_ttl)
        cached = answer if answer.server is None else _with_ttl(answer, ttl, None)
        hot[key] = (self.clock() + ttl, cached)
        hot.move_to_end(key)
        if len(hot) > self._hot_limit:
            hot.popitem(last=False)

    async def resolve_address(self, address: str, *, timeout: float | None = None) -> Answer:
        """Look up the PTR records of an IPv4 or IPv6 ``address``."""
        return await self.resolve(reverse_name(address), _PTR, timeout=timeout, search=False)

    async def getaddrinfo(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[tuple[Any, Any, int, str, Any]]:
        """``socket.getaddrinfo`` without a thread: same arguments, same result shape.

        See :func:`tidal.dns.getaddrinfo` for the rules (hosts file, numeric
        hosts, search list, RFC 6724 order, the NSS fallback for ``.local``).
        """
        from ._getaddrinfo import getaddrinfo

        return await getaddrinfo(self, host, port, family, type, proto, flags)

    async def stream_addresses(
        self, host: str, port: int, family: socket.AddressFamily
    ) -> list[tuple[socket.AddressFamily, Any]]:
        """TCP candidates of one address family: the per-family lookup Happy Eyeballs needs.

        Pass it as ``tidal.streams.open_tcp_stream(..., family_resolver=resolver.stream_addresses)``
        to connect through this resolver on any loop.
        """
        infos = await self.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        return [(socket.AddressFamily(info[0]), info[4]) for info in infos if info[0] == family]

    # -- one absolute name ----------------------------------------------------

    def _answer(self, outcome: Outcome, ttl: int, server: str | None) -> Answer:
        key = (outcome.name, outcome.rdtype)
        memo = self._converted.get(key)
        if memo is not None and memo[0] is outcome:
            cached = memo[1]
            return Answer(cached.name, cached.rdtype, cached.canonical_name, cached.cname_chain, ttl,
                          cached.records, server)
        answer = answer_from_outcome(outcome, ttl, server)
        if self.cache is not None:
            if len(self._converted) >= _MEMO_LIMIT:
                self._converted.clear()
            self._converted[key] = (outcome, answer)
        return answer

    def cached_outcome(self, name: str, rdtype: int) -> _LookupResult | None:
        """The cached outcome for absolute ``name`` as :meth:`lookup_outcome` returns it, or ``None``."""
        if self.cache is None:
            return None
        hit = self.cache.get(name, rdtype, now=self.clock())
        return None if hit is None else (hit.outcome, hit.ttl, None)

    async def lookup_outcome(
        self, name: str, rdtype: int, deadline: float, tcp: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> _LookupResult:
        """The classified outcome for absolute ``name`` (cache, shared query or servers).

        Returns ``(outcome, ttl_left, server)`` where ``server`` is ``None``
        for a cached outcome; ``deadline`` is in loop time; ``loop`` is the
        running loop when the caller has it at hand.
        """
        return await self._lookup(name, rdtype, deadline, tcp, loop or asyncio.get_running_loop())

    async def _lookup(
        self, name: str, rdtype: int, deadline: float, tcp: bool, loop: asyncio.AbstractEventLoop
    ) -> _LookupResult:
        cache = self.cache
        if cache is not None:
            hit = cache.get(name, rdtype, now=self.clock())
            if hit is not None:
                return hit.outcome, hit.ttl, None
        key = (name.lower(), rdtype, tcp)
        flight = self._inflight.get(key)
        if flight is not None and flight.loop is loop:
            return await self._follow(flight, name, rdtype, deadline, tcp)
        flight = self._inflight[key] = _Flight(loop, _Attempts(name, type_name(rdtype)), deadline)
        try:
            result = await self._query_servers(name, rdtype, deadline, tcp, flight.attempt, loop)
        except asyncio.CancelledError:
            flight.hand_over()
            raise
        except BaseException as error:
            flight.finish(None, error)
            raise
        else:
            flight.finish(result, None)
            return result
        finally:
            if self._inflight.get(key) is flight:
                del self._inflight[key]

    async def _follow(self, flight: _Flight, name: str, rdtype: int, deadline: float, tcp: bool) -> _LookupResult:
        """Wait for the leader of ``flight``; start over if it was cancelled."""
        waiter: asyncio.Future[_LookupResult | None] = flight.loop.create_future()
        flight.followers.append(waiter)
        if flight.deadline <= deadline:  # the leader's query ends in time: no timer of our own
            result = await waiter
        else:
            timeout = asyncio.timeout_at(deadline)
            try:
                async with timeout:
                    result = await waiter
            except TimeoutError:
                if not timeout.expired():
                    raise
                raise flight.attempt.timeout() from None
        if result is None:  # the leader was cancelled: ask again, perhaps as the new leader
            return await self._lookup(name, rdtype, deadline, tcp, flight.loop)
        return result

    async def _query_servers(
        self, name: str, rdtype: int, deadline: float, tcp: bool, attempt: _Attempts, loop: asyncio.AbstractEventLoop
    ) -> _LookupResult:
        limit = self._limit
        if not limit.try_acquire():
            try:
                async with asyncio.timeout_at(deadline):
                    await limit.acquire()
            except TimeoutError:
                raise attempt.timeout() from None
        try:
            # Every try waits until min(its timeout, deadline) at most, so the
            # deadline needs no timer of its own here.
            for server in self._server_order():
                if loop.time() >= deadline:
                    break
                outcome = await self._try_server(server, name, rdtype, deadline, tcp, attempt, loop)
                if outcome is not None:
                    if self.cache is not None:
                        self.cache.put(outcome, now=self.clock())
                    return outcome, outcome.ttl or 0, server.text
        finally:
            limit.release()
        if loop.time() >= deadline:
            raise attempt.timeout()
        raise attempt.failure()

    def _server_order(self) -> tuple[Nameserver, ...]:
        if not self.rotate:
            return self._fixed_order
        servers = self.nameservers
        start = next(self._rotation) % len(servers)
        return (servers[start:] + servers[:start]) * self.attempts

    async def _try_server(
        self, server: Nameserver, name: str, rdtype: int, deadline: float, tcp: bool, attempt: _Attempts,
        loop: asyncio.AbstractEventLoop,
    ) -> Outcome | None:
        wait_until = min(deadline, loop.time() + self.timeout)
        attempt.servers.append(server.text)
        outcome = await self._exchange(server, name, rdtype, (wait_until, deadline), tcp, attempt, loop, edns=True)
        if outcome is not None and outcome.rcode == _FORMERR:
            # RFC 6891 §7: a server that does not know EDNS answers FORMERR; ask it again without.
            outcome = await self._exchange(server, name, rdtype, (wait_until, deadline), tcp, attempt, loop, edns=False)
        if outcome is None:
            return None
        if outcome.kind in _FINAL:
            return outcome
        attempt.rcodes.append((outcome.kind, str(server)))
        return None

    async def _exchange(
        self, server: Nameserver, name: str, rdtype: int, until: tuple[float, float], tcp: bool,
        attempt: _Attempts, loop: asyncio.AbstractEventLoop, *, edns: bool,
    ) -> Outcome | None:
        """One query to one server (UDP, then TCP if truncated); ``None`` when it got nothing usable."""
        wait_until, deadline = until
        query = engine.build_query(name, rdtype, use_0x20=self.use_0x20, edns=edns)
        try:
            if tcp:
                response = await tcp_exchange(query, server, wait_until, loop=loop)
            else:
                limit = engine.EDNS_PAYLOAD if edns else _PLAIN_UDP_LIMIT
                response = await udp_exchange(query, server, wait_until, attempt.bad, max_size=limit, loop=loop)
                if engine.needs_tcp_retry(response, over_tcp=False):
                    response = await tcp_exchange(query, server, deadline, loop=loop)
            return engine.classify(response)
        except TryTimedOut:
            return None
        except engine.BadResponse as error:
            attempt.bad.append(f"{server}: {error}")
            return None
        except OSError as error:
            attempt.unreachable.append(f"{server}: {error.strerror or error}")
            return None


class _Flight:
    """A query on the wire: its loop, the record of its tries, its deadline and who waits for it."""

    __slots__ = ("loop", "attempt", "deadline", "followers")

    def __init__(self, loop: asyncio.AbstractEventLoop, attempt: _Attempts, deadline: float) -> None:
        self.loop, self.attempt, self.deadline = loop, attempt, deadline
        self.followers: list[asyncio.Future[_LookupResult | None]] = []

    def finish(self, result: _LookupResult | None, error: BaseException | None) -> None:
        """Hand the leader's result (or error) to every follower still waiting."""
        for waiter in self.followers:
            if waiter.done():
                continue
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(result)

    def hand_over(self) -> None:
        """The leader was cancelled: wake the followers to ask again (``None``)."""
        for waiter in self.followers:
            if not waiter.done():
                waiter.set_result(None)


class _Attempts:
    """What the tries of one query ran into, to word the final error."""

    def __init__(self, name: str, rdtype: str) -> None:
        self.name, self.rdtype = name, rdtype
        self.servers: list[str] = []
        self.bad: list[str] = []
        self.unreachable: list[str] = []
        self.rcodes: list[tuple[OutcomeKind, str]] = []

    def _tried(self) -> list[str]:
        return list(dict.fromkeys(self.servers))

    def timeout(self) -> errors.DNSError:
        tried = self._tried()
        if self.bad:  # something arrived, but nothing usable: say what
            return errors.BadResponse(
                f"only unusable responses for {self.name} {self.rdtype} before the deadline: {'; '.join(self.bad)}",
                name=self.name, rdtype=self.rdtype, servers=tried,
            )
        return errors.DNSTimeout(
            f"no answer for {self.name} {self.rdtype} before the deadline (tried {', '.join(tried) or 'no server'})",
            name=self.name, rdtype=self.rdtype, servers=tried,
        )

    def failure(self) -> errors.DNSError:
        kinds = [kind for kind, _ in self.rcodes]
        detail = dict(name=self.name, rdtype=self.rdtype, servers=self._tried())
        if OutcomeKind.SERVFAIL in kinds:
            servers = ", ".join(server for kind, server in self.rcodes if kind is OutcomeKind.SERVFAIL)
            return errors.ServFail(f"SERVFAIL for {self.name} {self.rdtype} from {servers}", **detail)  # type: ignore[arg-type]
        if kinds:
            servers = ", ".join(f"{server} ({kind.value})" for kind, server in self.rcodes)
            return errors.Refused(f"{self.name} {self.rdtype} refused by {servers}", **detail)  # type: ignore[arg-type]
        if self.bad:
            return errors.BadResponse(
                f"only unusable responses for {self.name} {self.rdtype}: {'; '.join(self.bad)}", **detail  # type: ignore[arg-type]
            )
        reasons = "; ".join(self.unreachable) or "no response"
        tried = ", ".join(self._tried()) or "no server"
        return errors.DNSTimeout(
            f"no server answered {self.name} {self.rdtype} (tried {tried}: {reasons})", **detail  # type: ignore[arg-type]
        )


def _search_error(
    name: str, rdtype: str, failures: list[tuple[Outcome | None, errors.DNSError | None]]
) -> errors.DNSError:
    tried = [outcome.name for outcome, _ in failures if outcome is not None]
    server_errors = [error for _, error in failures if error is not None]
    if any(outcome is not None and outcome.kind is OutcomeKind.NODATA for outcome, _ in failures):
        return errors.NoAnswer(f"{name} has no {rdtype} records", name=tried[-1] if tried else name, rdtype=rdtype)
    if server_errors and len(server_errors) == len(failures):
        return server_errors[-1]
    if server_errors and not tried:
        return server_errors[-1]
    names = ", ".join(_asked(outcome, error) for outcome, error in failures)
    return errors.NXDomain(f"{name} does not exist (asked: {names})", name=tried[-1] if tried else name, rdtype=rdtype)


def _asked(outcome: Outcome | None, error: errors.DNSError | None) -> str:
    if outcome is not None:
        return outcome.name
    assert error is not None  # each failure holds an outcome or an error
    return f"{error.name} ({type(error).__name__})"


def _with_ttl(answer: Answer, ttl: int, server: str | None) -> Answer:
    return Answer(answer.name, answer.rdtype, answer.canonical_name, answer.cname_chain, ttl, answer.records, server)


def reverse_name(address: str) -> str:
    """The in-addr.arpa / ip6.arpa name of an IP address (``ValueError`` if not one)."""
    return ipaddress.ip_address(address.partition("%")[0]).reverse_pointer + "."
