"""owed answers: WeChat messages told ``success`` whose answer is still to be sent through
custom/send, kept in the database so a cache that loses its data cannot lose them

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "owed_answers",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("client_message_id", sa.String(length=128), nullable=False),
        sa.Column("external_user_id", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_owed_answers")),
    )
    op.create_index(
        op.f("ix_owed_answers_created_at"), "owed_answers", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_owed_answers_created_at"), table_name="owed_answers")
    op.drop_table("owed_answers")
