"""Who may send webhooks: the shared secrets, the client's address, and what logs may show.

Kladana signs nothing, so the secret travels in the URL: as the ``token`` query parameter
or as the path segment of ``/webhook/<token>``. Everything that writes a URL to a log goes
through :func:`masked_path` and :func:`masked_query` first.
"""

import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import unquote, unquote_plus

from pydantic import SecretStr

TOKEN_PARAMETER = "token"  # noqa: S105 - the name of the query parameter, not a secret
MASK = "****"
_AFTER_WEBHOOK = re.compile(r"(webhook[^/]*)/.*", re.IGNORECASE | re.DOTALL)
_URL_LIKE = re.compile(r"[^\s'\"]*[/=][^\s'\"]*")
_MAX_UNQUOTING = 4

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


@dataclass(frozen=True)
class AccessPolicy:
    """Who may send webhooks; the empty policy lets everyone in."""

    tokens: tuple[SecretStr, ...] = ()
    """Each an accepted secret; several let one be rotated without downtime."""
    allowed_networks: tuple[Network, ...] = ()
    """When not empty, clients outside these networks are refused."""
    trusted_proxies: tuple[Network, ...] = ()
    """Proxies whose ``X-Forwarded-For`` is believed."""

    def client(self, remote_addr: str | None, forwarded_for: Iterable[str]) -> Address | None:
        return client_address(remote_addr, forwarded_for, self.trusted_proxies)

    def admits(self, address: Address | None) -> bool:
        return address_allowed(address, self.allowed_networks)

    def authenticates(self, presented: Sequence[str]) -> bool:
        return token_accepted(self.tokens, presented)


def token_accepted(accepted: Sequence[SecretStr], presented: Sequence[str]) -> bool:
    """True when no secret is configured, or when exactly one token was presented (in the
    query or the path, not both) and it equals one of the ``accepted`` secrets.

    Every configured secret is compared, in constant time, whatever matched first.
    """
    if not accepted:
        return True
    if len(presented) != 1:
        return False
    # Bytes, because compare_digest refuses str with non-ASCII characters.
    token = presented[0].encode()
    matches = [hmac.compare_digest(token, known.get_secret_value().encode()) for known in accepted]
    return any(matches)


def client_address(
    remote_addr: str | None, forwarded_for: Iterable[str], trusted_proxies: Sequence[Network]
) -> Address | None:
    """The address of the client that sent the request, or None when it cannot be known.

    ``X-Forwarded-For`` (``forwarded_for``: each of its header lines, in order) is believed
    only as far as it was written by trusted proxies: walking from the right, each hop
    added by a trusted proxy is skipped, and the first untrusted one is the client. A
    malformed hop there makes the client unknown.
    """
    peer = _parse(remote_addr)
    if peer is None or not _in_any(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for line in forwarded_for for hop in line.split(",")]
    client: Address | None = peer
    for hop in reversed(hops):
        client = _parse(hop)
        if client is None or not _in_any(client, trusted_proxies):
            return client
    # Every hop was a trusted proxy: the leftmost one is as far as anyone can tell.
    return client


def address_allowed(address: Address | None, allowed_networks: Sequence[Network]) -> bool:
    """True when no allow-list is configured, or when the known ``address`` is in it."""
    if not allowed_networks:
        return True
    return address is not None and _in_any(address, allowed_networks)


def masked_path(path: str) -> str:
    """``/webhook/<token>`` as ``/webhook/****``; other paths as they are.

    Whatever follows ``webhook/`` is masked, in any case, at any depth and however
    percent-encoded, so that a secret sent to a mistyped path (``//Webhook/<token>/x``,
    ``/%77ebhook/<token>``) is not logged either.
    """
    decoded = _fully_unquoted(path)
    found = _AFTER_WEBHOOK.search(decoded)
    if found is None:
        return path
    return f"{decoded[: found.start()]}{found.group(1)}/{MASK}"


def masked_query(query_string: str) -> str:
    """The raw query string with every ``token`` value replaced by ``****``.

    Names are compared decoded, as the app reads them, so ``%74oken=`` is masked too.
    """
    parts = []
    for part in query_string.split("&"):
        name, separator, _ = part.partition("=")
        if unquote_plus(name) == TOKEN_PARAMETER:
            part = f"{name}={MASK}" if separator else name
        parts.append(part)
    return "&".join(parts)


def masked_text(text: str) -> str:
    """Free text (a server's log message) with every URL-like word in it masked: the
    path as by :func:`masked_path`, the query as by :func:`masked_query`."""
    return _URL_LIKE.sub(lambda found: _masked_target(found.group()), text)


def _masked_target(target: str) -> str:
    path, separator, query = target.partition("?")
    if separator:
        return f"{masked_path(path)}?{masked_query(query)}"
    return masked_query(masked_path(target))


def _fully_unquoted(text: str) -> str:
    for _ in range(_MAX_UNQUOTING):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def _parse(text: str | None) -> Address | None:
    if not text:
        return None
    try:
        address = ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _in_any(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)
