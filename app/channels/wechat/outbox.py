"""Answers owed through ``custom/send`` outlive the process that owed them.

Once a callback has answered ``success``, WeChat never retries: an answer still being made or
sent lived only in that process, and a worker killed then lost it. Such a message is marked
owed (``Lease.owe``) in the database (``owed_answers``) and in the cache until it is
delivered. Every API process sweeps the owed messages now and then: one whose lease has
lapsed (its process died) is taken over like a retry would be; its turn, keyed by the MsgId,
answers the stored message or replays the answer stored without being sent.

Either record is enough, so the answer survives a database outage when it was owed and a
cache that lost its data (a Redis restarted without persistence). A message recorded in
neither (both were down when it was owed) stays as it is rather than risking an answer sent
twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from app.channels import owed
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


def _recent(runtime: Runtime) -> dict[str, tuple[str, str, str, bool]]:
    """Messages that may be owed, by dedup key: (MsgId, openid, text, recorded as owed in the
    database); young enough to be owed, old enough for their first attempt to have claimed
    them. Those not recorded are owed if the cache says so, unless recorded as delivered."""
    now = utcnow()
    found: dict[str, tuple[str, str, str, bool]] = {}
    with runtime.session_factory() as db_session:
        due = owed.due(
            db_session=db_session, channel=CHANNEL, older_than=LEASE_TTL, within=DEDUP_TTL
        )
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
    for o in due.owed:
        found[o.key] = (o.client_message_id, o.user, o.text, True)
    for m, u, c in rows:
        key = dedup_key({"MsgId": str(m)})
        if m and u and key not in due.delivered:
            found.setdefault(key, (str(m), str(u), c, False))
    return found


async def sweep(channels: TencentChannels) -> int:
    """Take over the owed messages whose process died; how many were taken over."""
    runtime, api = channels.runtime, channels.wechat
    if api is None:
        return 0
    resumed = 0
    for key, (msg_id, openid, text, recorded) in (
        await run_in_threadpool(_recent, runtime)
    ).items():
        if not recorded and await run_in_threadpool(runtime.cache.get, owed_key(key)) is None:
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
        lease.owing(req)
        channels.answer_later(req, send=send, lease=lease)
        resumed += 1
    return resumed
