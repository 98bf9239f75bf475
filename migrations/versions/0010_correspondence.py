"""correspondence: threads, attachments, request runs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 13:30:00

A team's threads with the scenario's characters, the attachments of messages, the
requests the characters carry out; messages gain their thread, direction, author
and white-cell state. Existing messages are all to teams (direction 'in').
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('threads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('character_id', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('state', sa.Enum('sent', 'in_progress', 'answered', name='threadstate', native_enum=False, length=20), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('exercise_seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_threads_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_threads_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_threads_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_threads'))
    )
    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_threads_exercise_id'), ['exercise_id'], unique=False)
        batch_op.create_index('ix_threads_team_updated', ['team_id', 'updated_at'], unique=False)

    op.create_table('message_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_attachments_message_id_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_attachments'))
    )
    with op.batch_alter_table('message_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_attachments_message_id'), ['message_id'], unique=False)

    op.create_table('request_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('character_id', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'scheduled', 'running', 'fulfilled', 'failed', 'refused', 'repeated', 'interrupted', name='requeststatus', native_enum=False, length=20), nullable=False),
    sa.Column('via', sa.String(length=20), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('exercise_seconds', sa.Float(), nullable=False),
    sa.Column('timeline_seconds', sa.Float(), nullable=False),
    sa.Column('due_day', sa.Integer(), nullable=True),
    sa.Column('due_seconds', sa.Float(), nullable=True),
    sa.Column('started_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('engine', sa.String(length=64), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('output', sa.Text(), nullable=False),
    sa.Column('reply_message_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_request_runs_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_request_runs_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_request_runs_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reply_message_id'], ['messages.id'], name=op.f('fk_request_runs_reply_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_request_runs_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_request_runs_thread_id_threads'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_runs'))
    )
    with op.batch_alter_table('request_runs', schema=None) as batch_op:
        batch_op.create_index('ix_request_runs_status', ['exercise_id', 'status'], unique=False)
        batch_op.create_index('ix_request_runs_team', ['team_id', 'character_id', 'request_id'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('thread_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('direction', sa.String(length=3), server_default='in', nullable=False))
        batch_op.add_column(sa.Column('character_id', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('author_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('white_cell', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('handled_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('handled_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_messages_thread_id'), ['thread_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_white_cell'), ['white_cell'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_messages_handled_by_id_users'), 'users', ['handled_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_messages_author_id_users'), 'users', ['author_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_messages_thread_id_threads'), 'threads', ['thread_id'], ['id'], ondelete='CASCADE')



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_messages_thread_id_threads'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_messages_author_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_messages_handled_by_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_messages_white_cell'))
        batch_op.drop_index(batch_op.f('ix_messages_thread_id'))
        batch_op.drop_column('handled_at')
        batch_op.drop_column('handled_by_id')
        batch_op.drop_column('white_cell')
        batch_op.drop_column('author_id')
        batch_op.drop_column('character_id')
        batch_op.drop_column('direction')
        batch_op.drop_column('thread_id')

    with op.batch_alter_table('request_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_request_runs_team')
        batch_op.drop_index('ix_request_runs_status')

    op.drop_table('request_runs')
    with op.batch_alter_table('message_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_attachments_message_id'))

    op.drop_table('message_attachments')
    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.drop_index('ix_threads_team_updated')
        batch_op.drop_index(batch_op.f('ix_threads_exercise_id'))

    op.drop_table('threads')
