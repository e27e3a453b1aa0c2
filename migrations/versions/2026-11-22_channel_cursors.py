"""channel cursors: where pull-based channels (微信客服 sync_msg) stopped reading

Kept in the database, not the cache, so a restart does not read (and answer) old messages again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('channel_cursors',
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('cursor', sa.String(length=512), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel', 'key', name=op.f('pk_channel_cursors'))
    )


def downgrade() -> None:
    op.drop_table('channel_cursors')
