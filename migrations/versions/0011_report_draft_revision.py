"""report versions: a revision counter, so a save made from an older draft is refused, never applied over it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('report_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='1', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('report_versions', schema=None) as batch_op:
        batch_op.drop_column('revision')
