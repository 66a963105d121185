"""`chat_send_cost`: sending a chat message no longer reads the room's or the studio's
messages.

Every message sent (chat/service.py `post`) did two reads whose cost grew with every
message stored: the sender's per-minute limit counted what they sent in the last minute,
with nothing indexing the sender (so it read every message of the studio); and the room's
newest `seq`, named by the new message's event as the one before it, was max(seq) over
the room's messages, which under row-level security the planner does not turn into a
one-row read of the (room_id, seq) index. In the soak benchmark's support room (~500
messages a minute) both grew by a buffer per message stored, under the room's lock.

Now the sender's messages are indexed by time (the indexes also serve the foreign keys:
a guest's messages go with the guest, a deleted user's lose their sender), and the room
keeps its newest message's `seq` in `chat_rooms.last_seq`, read with the room's lock.

Revision ID: 0033_chat_send_cost
Revises: 0032_studio_content
Create Date: 2026-12-07 18:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033_chat_send_cost"
down_revision: str | None = "0032_studio_content"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_chat_messages_guest_sent",
        "chat_messages",
        ["sender_guest_id", "created_at"],
        postgresql_where="sender_guest_id IS NOT NULL",
    )
    op.create_index(
        "ix_chat_messages_user_sent",
        "chat_messages",
        ["sender_user_id", "created_at"],
        postgresql_where="sender_user_id IS NOT NULL",
    )
    op.add_column(
        "chat_rooms",
        sa.Column("last_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(
        "UPDATE chat_rooms r SET last_seq = m.last_seq "
        "FROM (SELECT room_id, max(seq) AS last_seq FROM chat_messages GROUP BY room_id) m "
        "WHERE m.room_id = r.id"
    )


def downgrade() -> None:
    op.drop_column("chat_rooms", "last_seq")
    op.drop_index("ix_chat_messages_user_sent", table_name="chat_messages")
    op.drop_index("ix_chat_messages_guest_sent", table_name="chat_messages")
