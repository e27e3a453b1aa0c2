"""What the WeChat and WeCom channels keep for the life of the app: one HTTP client and the
API clients on it, the background turns and deliveries (referenced so they are not garbage
collected, cancelled at shutdown), and the listeners that deliver human agents' replies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool

from app.attachments import vision
from app.channels.tencent.api import WeChatApi, WeComApi
from app.channels.tencent.callback import DEDUP_TTL, fits_one_message, split_text
from app.channels.tencent.images import ImageLoader
from app.channels.tencent.lease import Lease
from app.channels.tencent.sources import with_sources
from app.conversation.schemas import TurnOutcome, TurnRequest
from app.conversation.turns import run_turn
from app.core.bus import Event, channel_topic
from app.core.errors import AppError, database_unavailable
from app.core.logging import mask_pii
from app.runtime import Runtime

log = logging.getLogger(__name__)

Sender = Callable[[str], Awaitable[None]]
Deliver = Callable[[Event], Coroutine[Any, Any, None]]
TurnRunner = Callable[[Runtime, TurnRequest], Awaitable[TurnOutcome]]

SEND_ATTEMPTS = 3
SEND_BACKOFF = 0.5  # seconds, doubled per attempt
APOLOGY = "抱歉，系统暂时出了点问题，请稍后再试，或回复“转人工”联系人工客服。"


class TencentChannels:
    def __init__(self, runtime: Runtime, *, http: httpx.AsyncClient | None = None) -> None:
        self.runtime = runtime
        cfg = runtime.settings.channels
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
        self.wechat: WeChatApi | None = None
        self.wecom: WeComApi | None = None
        if cfg.wechat_app_id and cfg.wechat_app_secret:
            self.wechat = WeChatApi(
                http=self.http,
                cache=runtime.cache,
                base_url=cfg.wechat_api_base,
                app_id=cfg.wechat_app_id,
                secret=cfg.wechat_app_secret.get_secret_value(),
            )
        if cfg.wecom_corp_id and cfg.wecom_secret:
            self.wecom = WeComApi(
                http=self.http,
                cache=runtime.cache,
                base_url=cfg.wecom_api_base,
                corp_id=cfg.wecom_corp_id,
                secret=cfg.wecom_secret.get_secret_value(),
                agent_id=cfg.wecom_agent_id,
            )
        # The conversation core; replaceable so a test can stand in a slow one.
        self.run_turn: TurnRunner = run_turn
        self.listening: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._listeners: list[asyncio.Task[None]] = []

    # -- background work ---------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def pending(self) -> int:
        """Turns and deliveries still running (tests wait for zero)."""
        return len(self._tasks)

    async def aclose(self) -> None:
        for task in [*self._listeners, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._listeners, *self._tasks, return_exceptions=True)
        await self.http.aclose()

    def lock(self, name: str) -> asyncio.Lock:
        """A named lock for this process (several processes rely on dedup instead)."""
        return self._locks.setdefault(name, asyncio.Lock())

    async def claim(self, key: str) -> bool:
        """True for the first delivery of a callback; retries and replays get False."""
        return await run_in_threadpool(self.runtime.cache.add, key, "1", ttl=DEDUP_TTL)

    async def bind(self, key: str, value: str) -> str:
        """What ``key`` was first bound to within the dedup window: ``value`` the first time."""
        for _ in range(2):  # the binding may lapse between add and get (evicted, expired)
            if await run_in_threadpool(self.runtime.cache.add, key, value, ttl=DEDUP_TTL):
                return value
            bound = await run_in_threadpool(self.runtime.cache.get, key)
            if bound is not None:
                return bound
        return ""

    # -- answering ---------------------------------------------------------------------

    async def _answer(self, req: TurnRequest, load: ImageLoader | None = None) -> str:
        if load is not None:
            try:
                req = replace(req, images=(await load(),))
            except AppError as exc:
                log.info("image refused", extra={"channel": req.channel, "code": exc.code})
                return vision.prompts().text("refused", "zh")
        try:
            out = await self.run_turn(self.runtime, req)
        except AppError as exc:
            log.info("turn refused", extra={"channel": req.channel, "code": exc.code})
            if isinstance(exc.details, dict) and exc.details.get("limit"):
                return f"消息太长了，请分几次发送（每条不超过{exc.details['limit']}字）。"
            return APOLOGY
        except Exception:
            log.exception("turn failed", extra={"channel": req.channel})
            return APOLOGY
        # The customer sees only this text: the [n] markers need their sources under them.
        return with_sources(out.answer.strip(), out.citations)

    async def answer_within(
        self,
        req: TurnRequest,
        *,
        budget: float,
        send: Sender | None,
        lease: Lease | None = None,
        load: ImageLoader | None = None,
    ) -> str | None:
        """The answer when it is ready within ``budget`` seconds and fits one passive reply;
        otherwise None, and the answer follows through ``send`` when it is ready. ``lease``,
        the message's claim, is held until the answer is given and then marked done (passive,
        for an answer in the response: a retry gets it again, see tencent.lease). ``load``
        fetches the message's image first, within the same budget."""
        turn = self.spawn(self._answer(req, load))
        try:
            done, _ = await asyncio.wait({turn}, timeout=max(0.0, budget))
        except asyncio.CancelledError:
            # The callback was abandoned; the customer still gets the answer.
            self.spawn(self.deliver_later(turn, send, lease))
            raise
        if done and fits_one_message(turn.result()):
            if lease is not None:
                await lease.finish(passive=bool(turn.result()))
            return turn.result() or None
        if lease is not None:
            await lease.owe(req)
        self.spawn(self.deliver_later(turn, send, lease))
        return None

    def answer_later(
        self,
        req: TurnRequest,
        *,
        send: Sender | None,
        lease: Lease | None = None,
        load: ImageLoader | None = None,
    ) -> None:
        """Answer in the background, through ``send`` (channels that never reply passively)."""
        self.spawn(self.deliver_later(self.spawn(self._answer(req, load)), send, lease))

    async def deliver_later(
        self, turn: Awaitable[str], send: Sender | None, lease: Lease | None = None
    ) -> None:
        try:
            text = await turn
            if text and send is None:
                log.error("answer not delivered: the channel has no API credentials to send with")
            elif lease is not None and not await lease.held():
                log.warning("another attempt took this message over: it sends the answer")
                await lease.release()
                return
            elif text and send is not None:  # no text: a human holds the conversation
                sent = [await self.send(send, piece) for piece in split_text(text)]
                if not all(sent) and lease is not None:
                    # Still owed: the lease lapses and the sweep (or WeChat's retry) tries
                    # again, rather than marking done an answer the customer never got.
                    await lease.release()
                    return
        except BaseException:
            # Cancelled (shutting down) or failed: the lease lapses and WeChat's retry, if one
            # comes, answers the message again (or re-sends the answer stored meanwhile).
            if lease is not None:
                await asyncio.shield(lease.release())
            raise
        if lease is not None:
            await lease.finish()

    async def send(self, send: Sender, text: str) -> bool:
        """Send with a couple of retries; failures are logged (masked), never raised."""
        delay = SEND_BACKOFF
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                await send(text)
                return True
            except Exception as exc:
                log.warning(
                    "send failed (attempt %d/%d): %s",
                    attempt,
                    SEND_ATTEMPTS,
                    mask_pii(str(exc)),
                    extra={"text": mask_pii(text[:80])},
                )
                if attempt < SEND_ATTEMPTS:
                    await asyncio.sleep(delay)
                    delay *= 2
        return False

    # -- human agents' replies ---------------------------------------------------------

    def every(self, seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
        """Run ``job`` every ``seconds`` for the life of the app (failures logged)."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await job()
                except Exception as exc:
                    if database_unavailable(exc) is None:
                        log.exception("periodic channel job failed")
                    else:  # an outage: one line per run, not a traceback every few seconds
                        log.warning("periodic channel job skipped: database unavailable")

        self._listeners.append(asyncio.get_running_loop().create_task(loop()))

    def listen(self, channel: str, deliver: Deliver) -> None:
        """Deliver what the handoff API publishes on ``channel:<name>`` (agent messages)."""
        self._listeners.append(
            asyncio.get_running_loop().create_task(self._listen(channel, deliver))
        )

    async def _listen(self, channel: str, deliver: Deliver) -> None:
        topic = channel_topic(channel)
        while True:
            try:
                async with self.runtime.bus.subscribe(topic) as sub:
                    self.listening.add(channel)
                    async for event in sub:
                        self.spawn(deliver(event))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("listener for %s failed; resubscribing", topic)
            finally:
                self.listening.discard(channel)
            await asyncio.sleep(1.0)

    async def deliver_agent_message(
        self, event: Event, send: Callable[[str, str], Awaitable[None]]
    ) -> None:
        """Send an ``agent_message`` to the customer once, however many processes hear it."""
        if event.get("type") != "agent_message":
            return
        user, content = event.get("external_user_id"), str(event.get("content") or "")
        if not user or not content.strip():
            return
        key = f"agent_message:{event.get('conversation_id')}:{event.get('message_id')}"
        if not await self.claim(key):
            return
        target = str(user)

        async def to_user(text: str) -> None:
            await send(target, text)

        for piece in split_text(content):
            await self.send(to_user, piece)


def get_channels(app_state: Any) -> TencentChannels:
    channels: TencentChannels | None = getattr(app_state, "tencent_channels", None)
    if channels is None:
        raise AppError("channels are starting", code="unavailable", status_code=503)
    return channels
