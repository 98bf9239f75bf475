"""runtime: inject runs, inbox, timeline, engine lease

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 08:43:33.039473
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('engine_leases',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('holder', sa.String(length=100), nullable=False),
    sa.Column('renewed_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_engine_leases'))
    )
    op.create_table('inject_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('inject_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('requested', 'held', 'running', 'done', 'failed', 'skipped', 'missed', 'interrupted', name='runstatus', native_enum=False, length=20), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('due_seconds', sa.Float(), nullable=True),
    sa.Column('started_seconds', sa.Float(), nullable=True),
    sa.Column('lateness_seconds', sa.Float(), nullable=False),
    sa.Column('started_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('engine', sa.String(length=64), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('output', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_inject_runs_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_inject_runs_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inject_runs')),
    sa.UniqueConstraint('exercise_id', 'team_id', 'inject_id', name=op.f('uq_inject_runs_exercise_id_team_id_inject_id'))
    )
    with op.batch_alter_table('inject_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inject_runs_exercise_id'), ['exercise_id'], unique=False)

    op.create_table('timeline_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('exercise_seconds', sa.Float(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_timeline_events_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_timeline_events_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timeline_events'))
    )
    with op.batch_alter_table('timeline_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timeline_events_exercise_id'), ['exercise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_timeline_events_team_id'), ['team_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('inject_run_id', sa.Integer(), nullable=True),
    sa.Column('sender_ja', sa.String(length=200), nullable=False),
    sa.Column('sender_en', sa.String(length=200), nullable=False),
    sa.Column('subject_ja', sa.String(length=300), nullable=False),
    sa.Column('subject_en', sa.String(length=300), nullable=False),
    sa.Column('body_ja', sa.Text(), nullable=False),
    sa.Column('body_en', sa.Text(), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('exercise_seconds', sa.Float(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_messages_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['inject_run_id'], ['inject_runs.id'], name=op.f('fk_messages_inject_run_id_inject_runs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_messages_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_exercise_id'), ['exercise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_team_id'), ['team_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_team_id'))
        batch_op.drop_index(batch_op.f('ix_messages_exercise_id'))

    op.drop_table('messages')
    with op.batch_alter_table('timeline_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timeline_events_team_id'))
        batch_op.drop_index(batch_op.f('ix_timeline_events_exercise_id'))

    op.drop_table('timeline_events')
    with op.batch_alter_table('inject_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inject_runs_exercise_id'))

    op.drop_table('inject_runs')
    op.drop_table('engine_leases')
