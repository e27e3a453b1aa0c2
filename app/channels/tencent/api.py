"""Outbound calls to Tencent: the access token fetched and refreshed in one place, then the
customer-service send APIs (WeChat ``custom/send``, WeCom ``message/send`` and 微信客服).

The token is cached in the shared cache (Redis when configured) so several processes use one
token instead of invalidating each other's; it is refreshed once when Tencent says it is
invalid or expired, and the call retried.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool

from app.core.cache import Cache

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid credential, invalid token, expired
TOKEN_MARGIN = 300  # seconds: refresh before Tencent expires it, never hand out a dying one


class TencentApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class MediaTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"media is over {size} bytes")
        self.size = size


class TencentApi(ABC):
    def __init__(self, *, http: httpx.AsyncClient, cache: Cache, base_url: str) -> None:
        self._http = http
        self._cache = cache
        self._base = base_url.rstrip("/")
        self._lock = asyncio.Lock()

    @property
    @abstractmethod
    def token_key(self) -> str: ...

    @abstractmethod
    async def _fetch_token(self) -> dict[str, Any]:
        """Tencent's token response: ``access_token`` and ``expires_in``."""

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        resp = await self._http.get(self._base + path, params=params)
        return _checked(resp)

    async def access_token(self, *, stale: str | None = None) -> str:
        """The cached token, or a new one. ``stale``: the token Tencent just refused, so a
        caller that lost the race to refresh reuses the fresh one instead of fetching again."""
        cached = await run_in_threadpool(self._cache.get, self.token_key)
        if cached and cached != stale:
            return cached
        async with self._lock:
            cached = await run_in_threadpool(self._cache.get, self.token_key)
            if cached and cached != stale:
                return cached
            data = await self._fetch_token()
            token = str(data["access_token"])
            ttl = max(60, int(data.get("expires_in", 7200)) - TOKEN_MARGIN)
            await run_in_threadpool(self._cache.set, self.token_key, token, ttl=ttl)
            return token

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with the access token; one refresh and retry when the token is refused."""
        token = await self.access_token()
        try:
            return await self._post(path, body, token)
        except TencentApiError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.info("access token refused; refreshing", extra={"errcode": exc.errcode})
            await run_in_threadpool(self._cache.delete, self.token_key)
            token = await self.access_token(stale=token)
            return await self._post(path, body, token)

    async def media(self, media_id: str, *, limit: int) -> bytes:
        """A file customers sent (``cgi-bin/media/get``, WeChat and WeCom alike), at most
        ``limit`` bytes; one refresh and retry when the token is refused."""
        token = await self.access_token()
        try:
            return await self._media(media_id, token, limit)
        except TencentApiError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            await run_in_threadpool(self._cache.delete, self.token_key)
            token = await self.access_token(stale=token)
            return await self._media(media_id, token, limit)

    async def _media(self, media_id: str, token: str, limit: int) -> bytes:
        params = {"access_token": token, "media_id": media_id}
        async with self._http.stream(
            "GET", self._base + "/cgi-bin/media/get", params=params
        ) as resp:
            kind = resp.headers.get("content-type", "")
            if resp.status_code != 200 or "json" in kind or kind.startswith("text/"):
                # Errors come back as JSON (a 200 with an errcode): never a file.
                await resp.aread()
                _checked(resp)
                raise TencentApiError(-1, f"media/get answered {resp.status_code} {kind}")
            data = bytearray()
            async for chunk in resp.aiter_bytes():
                data += chunk
                if len(data) > limit:
                    raise MediaTooLarge(len(data))
            return bytes(data)

    async def _post(self, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        resp = await self._http.post(self._base + path, params={"access_token": token}, json=body)
        return _checked(resp)


def _checked(resp: httpx.Response) -> dict[str, Any]:
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    errcode = int(data.get("errcode") or 0)
    if errcode:
        raise TencentApiError(errcode, str(data.get("errmsg", "")))
    return data


class WeChatApi(TencentApi):
    """Official Account: token by app id and secret; customer-service text messages."""

    def __init__(
        self, *, http: httpx.AsyncClient, cache: Cache, base_url: str, app_id: str, secret: str
    ) -> None:
        super().__init__(http=http, cache=cache, base_url=base_url)
        self._app_id = app_id
        self._secret = secret

    @property
    def token_key(self) -> str:
        return f"wechat:access_token:{self._app_id}"

    async def _fetch_token(self) -> dict[str, Any]:
        return await self._get(
            "/cgi-bin/token",
            {"grant_type": "client_credential", "appid": self._app_id, "secret": self._secret},
        )

    async def send_text(self, openid: str, content: str) -> None:
        await self.post(
            "/cgi-bin/message/custom/send",
            {"touser": openid, "msgtype": "text", "text": {"content": content}},
        )


class WeComApi(TencentApi):
    """WeCom self-built app: token by corp id and app secret; app messages and 微信客服."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        cache: Cache,
        base_url: str,
        corp_id: str,
        secret: str,
        agent_id: str | None,
    ) -> None:
        super().__init__(http=http, cache=cache, base_url=base_url)
        self._corp_id = corp_id
        self._secret = secret
        self._agent_id = agent_id

    @property
    def token_key(self) -> str:
        return f"wecom:access_token:{self._corp_id}:{self._agent_id or ''}"

    async def _fetch_token(self) -> dict[str, Any]:
        return await self._get(
            "/cgi-bin/gettoken", {"corpid": self._corp_id, "corpsecret": self._secret}
        )

    async def send_text(self, userid: str, content: str) -> None:
        if not self._agent_id:
            raise TencentApiError(-1, "KEFU_WECOM_AGENT_ID is not set")
        await self.post(
            "/cgi-bin/message/send",
            {
                "touser": userid,
                "msgtype": "text",
                "agentid": int(self._agent_id),
                "text": {"content": content},
            },
        )

    async def kf_sync(self, *, open_kfid: str, token: str, cursor: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"token": token, "open_kfid": open_kfid, "limit": 1000}
        if cursor:
            body["cursor"] = cursor
        return await self.post("/cgi-bin/kf/sync_msg", body)

    async def kf_send_text(self, *, open_kfid: str, external_userid: str, content: str) -> None:
        await self.post(
            "/cgi-bin/kf/send_msg",
            {
                "touser": external_userid,
                "open_kfid": open_kfid,
                "msgtype": "text",
                "text": {"content": content},
            },
        )
