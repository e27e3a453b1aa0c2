"""A WeChat/WeCom message's dedup claim as a lease: held (and renewed) while the message is
being answered and delivered, then marked done for the dedup window.

A plain claim for the whole window made a worker that died mid-turn lose the message:
WeChat's retry of the same MsgId found the claim and was told ``success``, and the stored
message was never answered. Now a retry waits while the claim is renewed by a live attempt
(and answers ``success``: that attempt delivers), and takes the message over once the lease
lapses; its turn then answers the stored message, or replays the answer the dead attempt
stored without delivering it (turns are keyed by the MsgId as client message id).

An answer given in a callback's response is marked ``passive``, not ``done``: WeChat retries
only when it did not get the response (the worker died before writing it, or wrote it after
WeChat's 5 s), so a retry of a passively answered message is answered again, from the stored
answer, and WeChat keeps one response per message. Only an answer sent through custom/send
(or nothing to send) makes retries ``success``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from starlette.concurrency import run_in_threadpool

from app.channels import owed
from app.channels.tencent.callback import DEDUP_TTL
from app.conversation.retries import keep_alive
from app.conversation.schemas import TurnRequest
from app.runtime import Runtime

log = logging.getLogger(__name__)

LIVE = "live:"  # + the holder's token
DONE = "done"
PASSIVE = "passive"
# Below WeChat's 5 s between tries, so the retry after a dead attempt sees the lease lapse
# within its own reply budget.
LEASE_TTL = 3.0
_RENEW_EVERY = 1.0
_POLL = 0.25


def owed_key(key: str) -> str:
    return f"{key}:owed"


class Lease:
    def __init__(self, runtime: Runtime, key: str, token: str) -> None:
        self.runtime, self.key, self.token = runtime, key, token
        self.owed: owed.Owed | None = None  # an owed answer: its delivery is recorded
        self._renewal = asyncio.get_running_loop().create_task(
            keep_alive(runtime, key, token, ttl=LEASE_TTL, every=_RENEW_EVERY)
        )

    async def held(self) -> bool:
        """False when another attempt took the message over (this one stalled past the
        lease): that one delivers. A lapsed, untaken lease (Redis restarted) still counts."""
        with contextlib.suppress(Exception):
            value = await run_in_threadpool(self.runtime.cache.get, self.key)
            return value is None or value == self.token
        return True

    async def owe(self, req: TurnRequest) -> None:
        """Record, beyond this process, that the answer is owed through custom/send: WeChat
        was told ``success`` and will not retry, so if this process dies the sweep
        (app.channels.wechat.outbox) takes the message over once the lease lapses. In the
        cache and in the database: either one survives the other's outage or data loss."""
        with contextlib.suppress(Exception):
            await run_in_threadpool(self.runtime.cache.set, owed_key(self.key), "1", ttl=DEDUP_TTL)
        if req.client_message_id and req.external_user_id:
            self.owing(req)
            with contextlib.suppress(Exception):
                await run_in_threadpool(_record_owed, self.runtime, self.owed)

    def owing(self, req: TurnRequest) -> None:
        """This lease delivers an owed answer: its delivery is recorded in the database."""
        self.owed = owed.Owed(
            key=self.key,
            channel=req.channel,
            client_message_id=str(req.client_message_id),
            user=str(req.external_user_id),
            text=req.text,
        )

    async def release(self) -> None:
        """Stop renewing (the lease lapses): a retry may answer the message again."""
        self._renewal.cancel()
        await asyncio.wait([self._renewal])  # a renewal in flight lands before what follows

    async def finish(self, *, passive: bool = False) -> None:
        """The message was answered: retries within the dedup window are told ``success``,
        or, when the answer went back in a callback's response (``passive``), answered again."""
        await self.release()
        with contextlib.suppress(Exception):  # the lease lapses; a retry may re-deliver
            mark = PASSIVE if passive else DONE
            await run_in_threadpool(self.runtime.cache.set, self.key, mark, ttl=DEDUP_TTL)
            await run_in_threadpool(self.runtime.cache.delete, owed_key(self.key))
        if self.owed is not None:
            with contextlib.suppress(Exception):  # the cache's done mark stands alone
                await run_in_threadpool(_settle_owed, self.runtime, self.owed)


def _record_owed(runtime: Runtime, record: owed.Owed | None) -> None:
    if record is not None:
        with runtime.session_factory() as db_session:
            owed.record(db_session=db_session, owed=record)


def _settle_owed(runtime: Runtime, record: owed.Owed) -> None:
    with runtime.session_factory() as db_session:
        owed.settle(db_session=db_session, owed=record)


async def acquire(
    runtime: Runtime, key: str, *, wait: float, passive_retry: bool = True
) -> Lease | None:
    """The lease on a message: at once for its first delivery; for a retry, once the attempt
    holding it has died (its lease lapsed within ``wait`` seconds), or at once when the answer
    was given passively (WeChat retries: it did not get it). None when the message was
    answered, or another attempt is still alive at the end of ``wait``."""
    cache = runtime.cache
    deadline = time.monotonic() + max(0.0, wait)
    token = LIVE + uuid.uuid4().hex
    while True:
        if await run_in_threadpool(cache.add, key, token, ttl=LEASE_TTL):
            return Lease(runtime, key, token)
        held = await run_in_threadpool(cache.get, key)
        if held == PASSIVE and passive_retry:
            # WeChat sends its retries one after another, never two at once: no race to win.
            await run_in_threadpool(cache.set, key, token, ttl=LEASE_TTL)
            return Lease(runtime, key, token)
        # Anything but a live lease (done, or a claim of an older version) was answered.
        if held is not None and not held.startswith(LIVE):
            return None
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(_POLL)
