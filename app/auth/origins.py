"""Host-page origins a widget key may be embedded on.

They end up verbatim in the frame's ``Content-Security-Policy: frame-ancestors`` header, so
anything that is not exactly one CSP host-source would widen or break the policy: a ``;``
starts another directive, a space or ``,`` adds sources, a stray ``*`` allows every site.
Only ``http(s)://host[:port]`` is accepted, plus a wildcard leftmost label
(``https://*.example.com``), which CSP matches against any subdomain.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_DEFAULT_PORTS = {"http": 80, "https": 443}
# The whole value: what is not scheme://authority[/] is refused before anything else looks
# at it, so a path, query, fragment or user-info never reaches the host checks.
_SHAPE = re.compile(r"(?P<scheme>[^:/]+)://(?P<host>\[[^\]/]*\]|[^/:]+)(?::(?P<port>[^/]*))?/?")
# CSP host-char is ALPHA / DIGIT / "-": no underscores, no percent-escapes.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# Browsers read a host whose last label is a number as IPv4 (leading zeros as octal), so
# only the canonical dotted quad means what it says.
_IPV4 = re.compile(r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_SHAPE_HINT = "an origin is scheme://host[:port], with no path, query or fragment"


class InvalidOrigin(ValueError):
    """Not an origin; the message names the value and why."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"invalid origin {value[:200]!r}: {reason}")
        self.value = value


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str  # without the "*." of a wildcard
    port: int | None  # None: the scheme's default
    wildcard: bool = False

    def __str__(self) -> str:
        host = f"*.{self.host}" if self.wildcard else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port else "")

    def matches(self, page: Origin) -> bool:
        """Whether a page on ``page`` (a concrete origin) may embed the widget."""
        if (self.scheme, self.port) != (page.scheme, page.port):
            return False
        if not self.wildcard:
            return self.host == page.host
        # As CSP does: a subdomain at any depth, never the bare domain itself.
        return page.host.endswith("." + self.host)


def _ipv6(value: str, raw: str, *, pattern: bool) -> str:
    if pattern:
        # CSP host-sources have no syntax for IPv6 literals: browsers would drop the source.
        raise InvalidOrigin(value, "IPv6 addresses cannot be allowed (CSP cannot express them)")
    try:
        return f"[{ipaddress.IPv6Address(raw[1:-1]).compressed}]"
    except ValueError as exc:
        raise InvalidOrigin(value, "not a valid IPv6 address") from exc


def _host(value: str, raw: str, *, pattern: bool) -> tuple[str, bool]:
    if raw.startswith("["):
        return _ipv6(value, raw, pattern=pattern), False
    wildcard = pattern and raw.startswith("*.")
    if wildcard:
        raw = raw[2:]
    if "*" in raw:
        reason = "'*' is only allowed as the whole leftmost label (https://*.example.com)"
        raise InvalidOrigin(value, reason if pattern else "a page origin has no '*'")
    try:
        # Browsers report internationalised hosts in punycode (xn--…), and CSP needs them so.
        host = raw.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidOrigin(value, "not a valid host name") from exc
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidOrigin(value, "not a valid host name")
    if labels[-1].isdigit() and (wildcard or not _IPV4.fullmatch(host)):
        raise InvalidOrigin(value, "not a valid IPv4 address or host name")
    if wildcard and len(labels) < 2:
        raise InvalidOrigin(value, "a wildcard needs a domain under it (https://*.example.com)")
    return host, wildcard


def parse(value: str, *, pattern: bool = False) -> Origin:
    """The origin ``value`` names, normalised (lower case, no default port, no trailing
    slash), or InvalidOrigin.

    ``pattern``: an allowed origin of a key, bound for CSP, which may be a wildcard and may
    not be an IPv6 literal. Otherwise the concrete origin of a page.
    """
    if value == "*":
        raise InvalidOrigin(value, "to allow every site, give no origins (development only)")
    if not value:
        raise InvalidOrigin(value, "empty")
    if any(ch.isspace() for ch in value):
        raise InvalidOrigin(value, "contains whitespace")
    if any(ch in value for ch in ";,'\"\\@?#"):
        raise InvalidOrigin(value, _SHAPE_HINT)
    shape = _SHAPE.fullmatch(value)
    if shape is None:
        raise InvalidOrigin(value, _SHAPE_HINT)
    scheme = shape["scheme"].lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidOrigin(value, "the scheme must be http or https")
    host, wildcard = _host(value, shape["host"], pattern=pattern)
    port: int | None = None
    if shape["port"] is not None:
        if not re.fullmatch(r"[0-9]{1,5}", shape["port"]) or not 0 < int(shape["port"]) < 65536:
            raise InvalidOrigin(value, "the port must be a number from 1 to 65535")
        port = int(shape["port"])
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    return Origin(scheme, host, port, wildcard)


def normalise_allowed(values: list[str]) -> list[str]:
    """A key's allowed origins, normalised, without duplicates; InvalidOrigin on the first
    bad one (so a key is stored with all of its origins or not at all)."""
    seen: dict[str, None] = {}
    for value in values:
        seen[str(parse(value, pattern=True))] = None
    return list(seen)
