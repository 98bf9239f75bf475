"""exercise staff: the instructors who run each exercise

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 12:00:00

Existing exercises get their creator (``exercises.created_by_id``) as staff when
that account is still an instructor or an administrator. An exercise created
from the CLI has no creator (nor has its audit line an actor), so it is left to
the administrators, who add its instructors with ``mamori exercise staff add``
or on the exercise's page.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('exercise_staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('added_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_exercise_staff_added_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_exercise_staff_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_exercise_staff_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exercise_staff')),
    sa.UniqueConstraint('exercise_id', 'user_id', name=op.f('uq_exercise_staff_exercise_id_user_id'))
    )
    with op.batch_alter_table('exercise_staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exercise_staff_user_id'), ['user_id'], unique=False)

    op.execute(
        "INSERT INTO exercise_staff (exercise_id, user_id, added_at) "
        "SELECT exercises.id, exercises.created_by_id, exercises.created_at FROM exercises "
        "JOIN users ON users.id = exercises.created_by_id WHERE users.role IN ('instructor', 'admin')"
    )


def downgrade() -> None:
    with op.batch_alter_table('exercise_staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exercise_staff_user_id'))

    op.drop_table('exercise_staff')
