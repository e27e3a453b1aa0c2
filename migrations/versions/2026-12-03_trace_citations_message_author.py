"""trace citations and message author: a turn's trace holds the passages its answer cited;
an agent's message keeps the name of the person who wrote it

Agent messages stored before this revision get the agent of the latest claim before them in
their conversation: only the holder may post, and a claim (which stores the audit message
"claimed by <agent>") is the only way to become the holder.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("turn_traces") as batch_op:
        batch_op.add_column(
            sa.Column("citations", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("author", sa.String(length=128), nullable=True))
    # substr from 12: after "claimed by " (11 characters); portable to SQLite and PostgreSQL.
    op.execute(
        """
        UPDATE messages SET author = (
            SELECT substr(claim.content, 12) FROM messages AS claim
            WHERE claim.conversation_id = messages.conversation_id
              AND claim.role = 'system'
              AND claim.content LIKE 'claimed by %'
              AND claim.id < messages.id
            ORDER BY claim.id DESC
            LIMIT 1
        )
        WHERE role = 'agent' AND author IS NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("author")
    with op.batch_alter_table("turn_traces") as batch_op:
        batch_op.drop_column("citations")
