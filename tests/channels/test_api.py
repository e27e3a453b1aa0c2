"""The outbound client: one access token, cached with a margin in the shared cache, refreshed
once when Tencent refuses it."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
import redis

from app.channels.tencent.api import TOKEN_MARGIN, TencentApiError, WeChatApi, WeComApi
from app.core.cache import RedisCache
from tests.channels.tencent_server import TencentServer

REDIS_URL = "redis://127.0.0.1:6379"


async def test_token_is_shared_cached_and_refreshed(tencent: TencentServer) -> None:
    tencent.reset()
    prefix = f"kefu-test-{uuid.uuid4().hex}:"
    cache = RedisCache(REDIS_URL, prefix=prefix)
    raw = redis.Redis.from_url(REDIS_URL)
    try:
        async with httpx.AsyncClient() as http:

            def api() -> WeChatApi:
                return WeChatApi(
                    http=http, cache=cache, base_url=tencent.base_url, app_id="wxa", secret="s"
                )

            first = api()
            await asyncio.gather(*(first.send_text("o1", f"m{i}") for i in range(5)))
            assert tencent.token_fetches == 1  # concurrent sends wait for one fetch
            ttl_ms = raw.pttl(prefix + first.token_key)
            assert (7200 - TOKEN_MARGIN - 10) * 1000 < ttl_ms <= (7200 - TOKEN_MARGIN) * 1000

            await api().send_text("o1", "another process")  # same cache: same token
            assert tencent.token_fetches == 1

            tencent.revoke()
            await first.send_text("o1", "after the token was invalidated")
            assert tencent.token_fetches == 2
            assert [c.result for c in tencent.sends()][-2:] == [40001, 0]

            tencent.fail_next(("errcode", 45015))  # not a token problem: no refresh, no retry
            with pytest.raises(TencentApiError) as refused:
                await first.send_text("o1", "too late to reply")
            assert refused.value.errcode == 45015 and tencent.token_fetches == 2

            tencent.fail_next(502)
            with pytest.raises(httpx.HTTPStatusError):
                await first.send_text("o1", "bad gateway")
    finally:
        raw.close()
        cache.close()


def wecom_api(http: httpx.AsyncClient, cache: RedisCache, tencent: TencentServer) -> WeComApi:
    return WeComApi(
        http=http,
        cache=cache,
        base_url=tencent.base_url,
        corp_id="ww1",
        secret="s",
        agent_id="1000002",
    )


async def test_wecom_message_send_body(tencent: TencentServer) -> None:
    tencent.reset()
    cache = RedisCache(REDIS_URL, prefix=f"kefu-test-{uuid.uuid4().hex}:")
    try:
        async with httpx.AsyncClient() as http:
            api = wecom_api(http, cache, tencent)
            await api.send_text("zhangsan", "你好")
    finally:
        cache.close()
    token_call = next(c for c in tencent.calls if c.path == "/cgi-bin/gettoken")
    assert token_call.query == {"corpid": "ww1", "corpsecret": "s"}
    [send] = tencent.delivered("/cgi-bin/message/send")
    assert send.body == {
        "touser": "zhangsan",
        "msgtype": "text",
        "agentid": 1000002,
        "text": {"content": "你好"},
    }


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
async def test_a_refused_token_is_refreshed_once(tencent: TencentServer, errcode: int) -> None:
    """40001 (invalid credential), 40014 (invalid token) and 42001 (expired): one new token,
    the call retried once with it, for WeChat and WeCom alike."""
    tencent.reset()
    cache = RedisCache(REDIS_URL, prefix=f"kefu-test-{uuid.uuid4().hex}:")
    try:
        async with httpx.AsyncClient() as http:
            wechat = WeChatApi(
                http=http, cache=cache, base_url=tencent.base_url, app_id="wxa", secret="s"
            )
            wecom = wecom_api(http, cache, tencent)
            for api in (wechat, wecom):
                await api.send_text("u1", "before")
                fetched = tencent.token_fetches
                stale = cache.get(api.token_key)
                tencent.revoke(errcode)
                await api.send_text("u1", "after the token was refused")
                assert tencent.token_fetches == fetched + 1
                assert [c.result for c in tencent.sends()][-2:] == [errcode, 0]
                refused, retried = tencent.sends()[-2:]
                assert refused.query["access_token"] == stale
                assert retried.query["access_token"] == cache.get(api.token_key) != stale
                assert retried.body == refused.body
    finally:
        cache.close()
