"""Answers owed through ``custom/send`` outlive the process that owed them.

Once a callback has answered ``success``, WeChat never retries: an answer still being made or
sent lived only in that process, and a worker killed then lost it. Such a message is marked
owed (``Lease.owe``, in the cache: Redis, persistent in production) until it is delivered. Every
API process sweeps the recent WeChat messages now and then: one still owed whose lease has
lapsed (its process died) is taken over like a retry would be; its turn, keyed by the MsgId,
answers the stored message or replays the answer stored without being sent.

Without the owed mark nothing is resumed: a message whose marks were lost (Redis lost its
data) stays as it is rather than risking an answer sent twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from app.channels.tencent.callback import DEDUP_TTL
from app.channels.tencent.lease import LEASE_TTL, acquire, owed_key
from app.channels.tencent.state import TencentChannels
from app.channels.wechat.service import CHANNEL, dedup_key
from app.conversation.models import Conversation, Message, MessageRole
from app.conversation.schemas import TurnRequest
from app.core.db import utcnow
from app.runtime import Runtime

log = logging.getLogger(__name__)

SWEEP_EVERY = 5.0


def _recent(runtime: Runtime) -> list[tuple[str, str, str]]:
    """(MsgId, openid, text) of WeChat messages young enough to be owed and old enough for
    their first attempt to have claimed them."""
    now = utcnow()
    with runtime.session_factory() as db_session:
        rows = db_session.execute(
            select(Message.client_message_id, Conversation.external_user_id, Message.content)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Conversation.channel == CHANNEL,
                Message.role == MessageRole.USER,
                Message.client_message_id.is_not(None),
                Message.created_at >= now - timedelta(seconds=DEDUP_TTL),
                Message.created_at <= now - timedelta(seconds=LEASE_TTL),
            )
        ).all()
    return [(str(m), str(u), c) for m, u, c in rows if m and u]


async def sweep(channels: TencentChannels) -> int:
    """Take over the owed messages whose process died; how many were taken over."""
    runtime, api = channels.runtime, channels.wechat
    if api is None:
        return 0
    resumed = 0
    for msg_id, openid, text in await run_in_threadpool(_recent, runtime):
        key = dedup_key({"MsgId": msg_id})
        if await run_in_threadpool(runtime.cache.get, owed_key(key)) is None:
            continue
        lease = await acquire(runtime, key, wait=0, passive_retry=False)
        if lease is None:
            continue  # delivered, or its process is alive
        log.warning("resuming an answer owed through custom/send (its process died)")

        async def send(content: str, openid: str = openid) -> None:
            await api.send_text(openid, content)

        req = TurnRequest(
            channel=CHANNEL, text=text, external_user_id=openid, client_message_id=msg_id
        )
        channels.answer_later(req, send=send, lease=lease)
        resumed += 1
    return resumed
