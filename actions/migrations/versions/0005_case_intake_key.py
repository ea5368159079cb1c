"""case intake key: one completed intake form opens one case

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 13:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("intake_key", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_cases_intake_key", ["intake_key"])


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint("uq_cases_intake_key", type_="unique")
        batch_op.drop_column("intake_key")
