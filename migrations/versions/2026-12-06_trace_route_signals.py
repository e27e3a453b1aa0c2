"""trace route signals: why the router chose (FAQ probability, calibrated score and margin,
the LLM tie-breaker's verdict), kept with each turn's trace

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("turn_traces") as batch_op:
        batch_op.add_column(
            sa.Column("route_signals", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("turn_traces") as batch_op:
        batch_op.drop_column("route_signals")
