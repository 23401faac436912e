"""The books table.

Revision ID: 0001
Revises:

A database whose ``books`` table an earlier version of the app made with ``create_all`` has
the same table: it is adopted as is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("books"):
        return
    op.create_table(
        "books",
        # BIGSERIAL on Postgres; on SQLite the 64-bit rowid, never reused (AUTOINCREMENT).
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("isbn", sa.String(), nullable=True),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("books")
