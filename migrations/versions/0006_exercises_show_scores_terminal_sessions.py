"""exercises show scores; terminal sessions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 13:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('terminal_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('host', sa.String(length=100), nullable=False),
    sa.Column('account', sa.String(length=100), nullable=False),
    sa.Column('started_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=200), nullable=False),
    sa.Column('recording', sa.String(length=500), nullable=False),
    sa.Column('recorded_bytes', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_terminal_sessions_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_terminal_sessions_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_terminal_sessions_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_terminal_sessions'))
    )
    with op.batch_alter_table('terminal_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_terminal_sessions_exercise_id'), ['exercise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_terminal_sessions_team_id'), ['team_id'], unique=False)

    with op.batch_alter_table('exercises', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scores_visible', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('exercises', schema=None) as batch_op:
        batch_op.drop_column('scores_visible')

    with op.batch_alter_table('terminal_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_terminal_sessions_team_id'))
        batch_op.drop_index(batch_op.f('ix_terminal_sessions_exercise_id'))

    op.drop_table('terminal_sessions')
