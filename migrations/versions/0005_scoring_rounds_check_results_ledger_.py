"""scoring: rounds, check results, ledger, task attempts, report versions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:14:54.000707
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scoring_rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('started_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('checks_run', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('exercise_seconds', sa.Float(), nullable=False),
    sa.Column('timeline_seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_scoring_rounds_exercise_id_exercises'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scoring_rounds')),
    sa.UniqueConstraint('exercise_id', 'number', name=op.f('uq_scoring_rounds_exercise_id_number'))
    )
    op.create_table('check_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('round_number', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('check_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('active_since', sa.Float(), nullable=False),
    sa.Column('down_streak', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('exercise_seconds', sa.Float(), nullable=False),
    sa.Column('timeline_seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_check_results_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['scoring_rounds.id'], name=op.f('fk_check_results_round_id_scoring_rounds'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_check_results_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_results')),
    sa.UniqueConstraint('round_id', 'team_id', 'check_id', name=op.f('uq_check_results_round_id_team_id_check_id'))
    )
    with op.batch_alter_table('check_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_check_results_exercise_id'), ['exercise_id'], unique=False)
        batch_op.create_index('ix_check_results_team_check', ['team_id', 'check_id', 'round_number'], unique=False)

    op.create_table('report_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'submitted', 'revision_requested', 'graded', name='reportstatus', native_enum=False, length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('grader_id', sa.Integer(), nullable=True),
    sa.Column('graded_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('exercise_seconds', sa.Float(), nullable=False),
    sa.Column('timeline_seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_report_versions_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_report_versions_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['grader_id'], ['users.id'], name=op.f('fk_report_versions_grader_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_report_versions_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_versions')),
    sa.UniqueConstraint('exercise_id', 'team_id', 'report_id', 'number', name=op.f('uq_report_versions_exercise_id_team_id_report_id_number'))
    )
    with op.batch_alter_table('report_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_versions_exercise_id'), ['exercise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_versions_team_id'), ['team_id'], unique=False)

    op.create_table('score_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.Enum('check', 'task', 'wrong_answer', 'hint', 'report', 'adjustment', name='scoresource', native_enum=False, length=20), nullable=False),
    sa.Column('source_id', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('round_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('exercise_seconds', sa.Float(), nullable=False),
    sa.Column('timeline_seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_score_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_score_events_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['scoring_rounds.id'], name=op.f('fk_score_events_round_id_scoring_rounds'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_score_events_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_events')),
    sa.UniqueConstraint('exercise_id', 'team_id', 'key', name=op.f('uq_score_events_exercise_id_team_id_key'))
    )
    with op.batch_alter_table('score_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_score_events_exercise_id'), ['exercise_id'], unique=False)
        batch_op.create_index('ix_score_events_team_source', ['team_id', 'source', 'source_id', 'points'], unique=False)
        batch_op.create_index('ix_score_events_team_id', ['team_id', 'id'], unique=False)

    op.create_table('task_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('answer', sa.String(length=1000), nullable=False),
    sa.Column('correct', sa.Boolean(), nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('exercise_seconds', sa.Float(), nullable=False),
    sa.Column('timeline_seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_task_attempts_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_task_attempts_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_task_attempts_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_attempts')),
    sa.UniqueConstraint('exercise_id', 'team_id', 'task_id', 'number', name=op.f('uq_task_attempts_exercise_id_team_id_task_id_number'))
    )
    with op.batch_alter_table('task_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_attempts_exercise_id'), ['exercise_id'], unique=False)
        batch_op.create_index('ix_task_attempts_user_at', ['user_id', 'at'], unique=False)

    op.create_table('team_scores',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_team_scores_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_scores_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_id', name=op.f('pk_team_scores'))
    )
    with op.batch_alter_table('team_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_scores_exercise_id'), ['exercise_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('team_scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_scores_exercise_id'))

    op.drop_table('team_scores')
    with op.batch_alter_table('task_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_task_attempts_user_at')
        batch_op.drop_index(batch_op.f('ix_task_attempts_exercise_id'))

    op.drop_table('task_attempts')
    with op.batch_alter_table('score_events', schema=None) as batch_op:
        batch_op.drop_index('ix_score_events_team_id')
        batch_op.drop_index('ix_score_events_team_source')
        batch_op.drop_index(batch_op.f('ix_score_events_exercise_id'))

    op.drop_table('score_events')
    with op.batch_alter_table('report_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_versions_team_id'))
        batch_op.drop_index(batch_op.f('ix_report_versions_exercise_id'))

    op.drop_table('report_versions')
    with op.batch_alter_table('check_results', schema=None) as batch_op:
        batch_op.drop_index('ix_check_results_team_check')
        batch_op.drop_index(batch_op.f('ix_check_results_exercise_id'))

    op.drop_table('check_results')
    op.drop_table('scoring_rounds')
