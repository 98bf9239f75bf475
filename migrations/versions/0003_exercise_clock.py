"""exercise clock

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 08:41:58.059374

The exercise clock: seconds banked in the current day, when it last started, its speed.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('exercises', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clock_elapsed', sa.Float(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('clock_started_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('speed', sa.Float(), nullable=False, server_default=sa.text('1')))



def downgrade() -> None:
    with op.batch_alter_table('exercises', schema=None) as batch_op:
        batch_op.drop_column('speed')
        batch_op.drop_column('clock_started_at')
        batch_op.drop_column('clock_elapsed')

