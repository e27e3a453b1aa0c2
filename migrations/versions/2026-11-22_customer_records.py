"""customer records: customers, bills, store orders, memberships and tickets

The business data the support agent's tools read with the sql backend (the demo data set
is loaded by `kefu demo-data`, not here). Dropping a table drops its indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:04:55.214813
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('plan', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('phone', name=op.f('uq_customers_phone'))
    )
    op.create_table('bills',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('plan', sa.String(length=32), nullable=False),
    sa.Column('total', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('paid', 'unpaid', name='bill_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_bills_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bills')),
    sa.UniqueConstraint('customer_id', 'month', name=op.f('uq_bills_customer_id_month'))
    )
    op.create_index(op.f('ix_bills_customer_id'), 'bills', ['customer_id'])

    op.create_table('memberships',
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('tier', sa.Enum('standard', 'silver', 'gold', 'diamond', name='membership_tier', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('tier_valid_until', sa.Date(), nullable=True),
    sa.Column('qualifying_spend', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('points_expiring', sa.Integer(), nullable=False),
    sa.Column('points_expire_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_memberships_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_memberships'))
    )
    op.create_table('orders',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('amount', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('shipping_fee', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('payment_method', sa.Enum('third_party', 'debit_card', 'credit_card', 'credit_instalments', 'balance', 'points', name='payment_method', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('status', sa.Enum('pending_payment', 'awaiting_shipment', 'shipped', 'delivered', 'completed', 'after_sales', 'cancelled', name='order_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('carrier', sa.String(length=32), nullable=True),
    sa.Column('tracking_no', sa.String(length=40), nullable=True),
    sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refund_status', sa.Enum('processing', 'refunded', name='refund_status', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('refund_amount', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('refund_reason', sa.String(length=128), nullable=True),
    sa.Column('refund_initiated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refund_expected_by', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_orders_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders'))
    )
    op.create_index(op.f('ix_orders_customer_id'), 'orders', ['customer_id'])

    op.create_table('tickets',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('conversation_id', sa.String(length=64), nullable=False),
    sa.Column('category', sa.Enum('billing', 'order', 'membership', 'network', 'complaint', 'other', name='ticket_category', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('reference', sa.String(length=32), nullable=True),
    sa.Column('status', sa.Enum('open', 'in_progress', 'resolved', 'closed', name='ticket_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_tickets_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets'))
    )
    op.create_index(op.f('ix_tickets_conversation_id'), 'tickets', ['conversation_id'])
    op.create_index(op.f('ix_tickets_customer_id'), 'tickets', ['customer_id'])

    op.create_table('bill_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bill_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('category', sa.Enum('plan_fee', 'data_overage', 'voice_overage', 'sms', 'value_added', 'roaming', 'third_party', 'discount', name='bill_category', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('description', sa.String(length=128), nullable=False),
    sa.Column('amount', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('unit_price', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.ForeignKeyConstraint(['bill_id'], ['bills.id'], name=op.f('fk_bill_items_bill_id_bills'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bill_items'))
    )
    op.create_index(op.f('ix_bill_items_bill_id'), 'bill_items', ['bill_id'])

    op.create_table('membership_tier_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('changed_on', sa.Date(), nullable=False),
    sa.Column('from_tier', sa.Enum('standard', 'silver', 'gold', 'diamond', name='from_tier', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('to_tier', sa.Enum('standard', 'silver', 'gold', 'diamond', name='to_tier', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['memberships.customer_id'], name=op.f('fk_membership_tier_changes_customer_id_memberships'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_membership_tier_changes'))
    )
    op.create_index(op.f('ix_membership_tier_changes_customer_id'), 'membership_tier_changes', ['customer_id'])

    op.create_table('order_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_items_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_items'))
    )
    op.create_index(op.f('ix_order_items_order_id'), 'order_items', ['order_id'])


def downgrade() -> None:
    op.drop_table('order_items')
    op.drop_table('membership_tier_changes')
    op.drop_table('bill_items')
    op.drop_table('tickets')
    op.drop_table('orders')
    op.drop_table('memberships')
    op.drop_table('bills')
    op.drop_table('customers')
