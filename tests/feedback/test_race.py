"""Two ratings of one answer at once (a double click, two tabs) on PostgreSQL: the second
insert waits for the first, finds the row and becomes an update; one row, the last rating."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.conversation import service as conversation_service
from app.conversation.models import Conversation, Message, MessageRole
from app.feedback import service as feedback_service
from app.feedback.models import MessageFeedback, Rating
from tests.support import wait_until


def test_a_concurrent_second_rating_becomes_an_update(pg_engine: Engine) -> None:
    factory = sessionmaker(bind=pg_engine, expire_on_commit=False)
    with factory.begin() as s:
        conv = conversation_service.create(
            db_session=s, channel="web", external_user_id="race", customer_id=None
        )
        answer = conversation_service.add_message(
            db_session=s, conversation=conv, role=MessageRole.ASSISTANT, content="42"
        )
        cid, mid = conv.id, answer.id
    errors: list[BaseException] = []
    try:
        first = factory()
        msg = first.get(Message, mid)
        assert msg is not None
        feedback_service.record(
            db_session=first, message=msg, rating=Rating.UP, comment=None, source="web"
        )  # inserted, not committed: the second insert must wait for it

        def second() -> None:
            try:
                with factory.begin() as s:
                    other = s.get(Message, mid)
                    assert other is not None
                    feedback_service.record(
                        db_session=s, message=other, rating=Rating.DOWN, comment="no", source="web"
                    )
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        with pg_engine.connect() as watch:
            wait_until(
                lambda: bool(
                    watch.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND datname = current_database()"
                            " AND query LIKE 'INSERT INTO message_feedback%'"
                        )
                    )
                ),
                timeout=10,
                what="the second insert to wait on the first",
            )
        first.commit()
        first.close()
        thread.join(timeout=10)
        assert not thread.is_alive() and errors == []
        with Session(pg_engine) as s:
            rows = s.scalars(select(MessageFeedback).where(MessageFeedback.message_id == mid))
            assert [(f.rating, f.comment) for f in rows] == [(Rating.DOWN, "no")]
    finally:
        with factory.begin() as s:
            s.execute(Conversation.__table__.delete().where(Conversation.id == cid))
        with Session(pg_engine) as s:
            assert s.scalar(select(func.count()).select_from(MessageFeedback).where(
                MessageFeedback.message_id == mid)) == 0  # fmt: skip
