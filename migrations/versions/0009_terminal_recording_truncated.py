"""terminal sessions: a recording that stopped at its size limit says so

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('terminal_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recording_truncated', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('terminal_sessions', schema=None) as batch_op:
        batch_op.drop_column('recording_truncated')
