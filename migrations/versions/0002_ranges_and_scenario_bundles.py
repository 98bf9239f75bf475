"""ranges and scenario bundles

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 07:48:52.735970

Team ranges and their hosts (what the control plane asked for and last saw),
and each scenario version's bundled files.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('team_ranges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'creating', 'ready', 'failed', 'paused', 'torn_down', name='rangestate', native_enum=False, length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('step', sa.String(length=200), nullable=False),
    sa.Column('gateway_port', sa.Integer(), nullable=True),
    sa.Column('gateway_user', sa.String(length=64), nullable=False),
    sa.Column('gateway_password', sa.String(length=200), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('ready_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_ranges_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_ranges')),
    sa.UniqueConstraint('team_id', name=op.f('uq_team_ranges_team_id'))
    )
    op.create_table('range_hosts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_range_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('container_id', sa.String(length=80), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('addresses', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['team_range_id'], ['team_ranges.id'], name=op.f('fk_range_hosts_team_range_id_team_ranges'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_range_hosts')),
    sa.UniqueConstraint('team_range_id', 'name', name=op.f('uq_range_hosts_team_range_id_name'))
    )
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        # Scenarios registered before this revision had no bundled files stored.
        batch_op.add_column(sa.Column('bundle', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))



def downgrade() -> None:
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.drop_column('bundle')

    op.drop_table('range_hosts')
    op.drop_table('team_ranges')
