"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 07:11:39.727433

Also loads the 47 prefectures (JIS X 0401 codes), which every exercise and
organisation refers to.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


PREFECTURES = [
    (1, "北海道", "Hokkaido"),
    (2, "青森県", "Aomori"),
    (3, "岩手県", "Iwate"),
    (4, "宮城県", "Miyagi"),
    (5, "秋田県", "Akita"),
    (6, "山形県", "Yamagata"),
    (7, "福島県", "Fukushima"),
    (8, "茨城県", "Ibaraki"),
    (9, "栃木県", "Tochigi"),
    (10, "群馬県", "Gunma"),
    (11, "埼玉県", "Saitama"),
    (12, "千葉県", "Chiba"),
    (13, "東京都", "Tokyo"),
    (14, "神奈川県", "Kanagawa"),
    (15, "新潟県", "Niigata"),
    (16, "富山県", "Toyama"),
    (17, "石川県", "Ishikawa"),
    (18, "福井県", "Fukui"),
    (19, "山梨県", "Yamanashi"),
    (20, "長野県", "Nagano"),
    (21, "岐阜県", "Gifu"),
    (22, "静岡県", "Shizuoka"),
    (23, "愛知県", "Aichi"),
    (24, "三重県", "Mie"),
    (25, "滋賀県", "Shiga"),
    (26, "京都府", "Kyoto"),
    (27, "大阪府", "Osaka"),
    (28, "兵庫県", "Hyogo"),
    (29, "奈良県", "Nara"),
    (30, "和歌山県", "Wakayama"),
    (31, "鳥取県", "Tottori"),
    (32, "島根県", "Shimane"),
    (33, "岡山県", "Okayama"),
    (34, "広島県", "Hiroshima"),
    (35, "山口県", "Yamaguchi"),
    (36, "徳島県", "Tokushima"),
    (37, "香川県", "Kagawa"),
    (38, "愛媛県", "Ehime"),
    (39, "高知県", "Kochi"),
    (40, "福岡県", "Fukuoka"),
    (41, "佐賀県", "Saga"),
    (42, "長崎県", "Nagasaki"),
    (43, "熊本県", "Kumamoto"),
    (44, "大分県", "Oita"),
    (45, "宮崎県", "Miyazaki"),
    (46, "鹿児島県", "Kagoshima"),
    (47, "沖縄県", "Okinawa"),
]


def upgrade() -> None:
    op.create_table('prefectures',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name_ja', sa.String(length=20), nullable=False),
    sa.Column('name_en', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prefectures')),
    sa.UniqueConstraint('name_en', name=op.f('uq_prefectures_name_en')),
    sa.UniqueConstraint('name_ja', name=op.f('uq_prefectures_name_ja'))
    )
    prefectures = sa.table(
        "prefectures",
        sa.column("id", sa.Integer),
        sa.column("name_ja", sa.String),
        sa.column("name_en", sa.String),
    )
    op.bulk_insert(
        prefectures, [{"id": i, "name_ja": ja, "name_en": en} for i, ja, en in PREFECTURES]
    )
    op.create_table('scenarios',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('title_ja', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=20), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('source_path', sa.String(length=500), nullable=False),
    sa.Column('source_text', sa.Text(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('registered_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenarios')),
    sa.UniqueConstraint('slug', 'content_hash', name=op.f('uq_scenarios_slug_content_hash'))
    )
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scenarios_slug'), ['slug'], unique=False)

    op.create_table('organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('prefecture_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['prefecture_id'], ['prefectures.id'], name=op.f('fk_organisations_prefecture_id_prefectures')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('name', 'prefecture_id', name=op.f('uq_organisations_name_prefecture_id'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('admin', 'instructor', 'trainee', name='role', native_enum=False, length=20), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('must_change_password', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_users_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('login', name=op.f('uq_users_login'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('exercises',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('scenario_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('draft', 'provisioning', 'ready', 'running', 'paused', 'day_ended', 'finished', 'torn_down', name='exercisestate', native_enum=False, length=20), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('current_day', sa.Integer(), nullable=False),
    sa.Column('venue', sa.String(length=200), nullable=False),
    sa.Column('prefecture_id', sa.Integer(), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_exercises_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['prefecture_id'], ['prefectures.id'], name=op.f('fk_exercises_prefecture_id_prefectures')),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenarios.id'], name=op.f('fk_exercises_scenario_id_scenarios')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exercises'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_login', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_audit_events_exercise_id_exercises'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_exercise_id'), ['exercise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_target'), ['target'], unique=False)

    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_teams_exercise_id_exercises'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('exercise_id', 'name', name=op.f('uq_teams_exercise_id_name')),
    sa.UniqueConstraint('exercise_id', 'number', name=op.f('uq_teams_exercise_id_number'))
    )
    op.create_table('memberships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exercise_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercises.id'], name=op.f('fk_memberships_exercise_id_exercises'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_memberships_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_memberships_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
    sa.UniqueConstraint('exercise_id', 'user_id', name=op.f('uq_memberships_exercise_id_user_id'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_memberships_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memberships_user_id'))
        batch_op.drop_index(batch_op.f('ix_memberships_team_id'))

    op.drop_table('memberships')
    op.drop_table('teams')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_target'))
        batch_op.drop_index(batch_op.f('ix_audit_events_exercise_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
    op.drop_table('exercises')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    op.drop_table('users')
    op.drop_table('organisations')
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scenarios_slug'))

    op.drop_table('scenarios')
    op.drop_table('prefectures')
