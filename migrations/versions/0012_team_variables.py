"""per-team variables: each exercise's seed and each team's drawn values, fixed once drawn

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 20:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('exercises', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variable_seed', sa.String(length=32), nullable=True))
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variables', sa.JSON(), nullable=True))
    # Exercises made before variables draw from a seed of their id (they have no variables yet).
    op.execute("UPDATE exercises SET variable_seed = 'exercise-' || CAST(id AS VARCHAR(20))")


def downgrade() -> None:
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_column('variables')
    with op.batch_alter_table('exercises', schema=None) as batch_op:
        batch_op.drop_column('variable_seed')
