"""Images given by URL (the ``/v1`` API's ``image_url`` parts): https only, fetched with a
size and a time limit, and never from this machine or its networks.

The host is resolved first and every address it resolves to must be public (not private,
loopback, link-local, reserved or multicast); the connection then goes to that checked
address (TLS still verifies the certificate against the host name), so a DNS answer that
changes between the check and the connection cannot point the request inwards. Redirects
are refused rather than followed: each would need the same check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

import httpx

from app.attachments.intake import too_large
from app.core.errors import AppError, Unprocessable
from app.core.vision_settings import VisionSettings


def _refused(message: str, code: str = "image_url_refused") -> AppError:
    return Unprocessable(message, code=code, details={"param": "image_url"})


def public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


async def resolve_public(host: str, port: int) -> str:
    """One public address of ``host``; refused when any address it has is not public."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise _refused(f"image URL host {host!r} does not resolve") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(public_address(a) for a in addresses):
        raise _refused(
            f"image URL host {host!r} resolves to a private, loopback or link-local "
            "address; only public hosts are fetched"
        )
    return addresses[0]


async def fetch(
    url: str, settings: VisionSettings, *, schemes: tuple[str, ...] = ("https",)
) -> bytes:
    """The bytes at a public URL, within ``fetch_timeout`` and ``max_image_bytes``."""
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise _refused("image_url must be a data: URL or an https:// URL")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(settings.fetch_timeout):
            address = await resolve_public(host, port)
            literal = f"[{address}]" if ":" in address else address
            pinned = urlunsplit(
                (parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, "")
            )
            return await _download(pinned, host, settings)
    except TimeoutError as exc:
        raise _refused(
            f"image URL did not answer within {settings.fetch_timeout}s", "image_url_timeout"
        ) from exc


async def _download(pinned: str, host: str, settings: VisionSettings) -> bytes:
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
        try:
            tls = {"sni_hostname": host} if pinned.startswith("https:") else {}
            request = client.build_request("GET", pinned, headers={"Host": host}, extensions=tls)
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _refused(f"image URL could not be fetched ({type(exc).__name__})") from exc
        try:
            if response.status_code != 200:
                raise _refused(f"image URL answered HTTP {response.status_code}")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > settings.max_image_bytes:
                    raise too_large(len(data), settings)
            return bytes(data)
        finally:
            await response.aclose()
