"""`booking_attempt`: what a booking needs to know, read in one round trip.

Every `POST /bookings` first needs the caller's account (active?), the class occurrence's
facts (class, studio, seats, windows) and the member's state (their booking of it, a
clashing booking, their membership). Before, that took five statements: load the user and
set the user context, make the occurrence readable by id, find and set its studio, read
the facts, read the member. In a rush, where most attempts end with CLASS_FULL right
after, those round trips were most of the database work of an attempt
(docs/benchmarks.md). This function runs them server-side, as the caller (SECURITY
INVOKER: row-level security applies as it did to the four statements).

A caller whose account is not active (or not verified) gets one row with `user_active`
false and nothing else. With `find_studio` the studio is found from the occurrence (its narrow by-id policy) and put
in the transaction's context, as `scheduling.capacity.enter_tenant_of` does; without it the
request's studio is already in context, and an occurrence of another studio is not seen.

Revision ID: 0024_booking_attempt
Revises: 0023_marketplace
Create Date: 2026-11-28 10:40:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024_booking_attempt"
down_revision: str | None = "0023_marketplace"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = "booking_attempt(uuid, uuid, boolean)"

BOOKING_ATTEMPT = """
CREATE FUNCTION booking_attempt(p_occurrence uuid, p_user uuid, p_find_studio boolean)
RETURNS TABLE (
    id uuid, tenant_id uuid, class_id uuid, class_name varchar, class_type varchar,
    credits_required integer, requires_membership boolean, price integer, currency varchar,
    start_time timestamptz, end_time timestamptz, status varchar, capacity integer,
    booked_count integer, booking_window_hours integer, class_booking_window_hours integer,
    cancellation_window_hours integer, class_cancellation_window_hours integer,
    settings jsonb, tenant_name varchar, timezone varchar,
    booked uuid, booked_status varchar, clash uuid, membership_status varchar,
    user_active boolean
)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    studio uuid;
    active boolean;
BEGIN
    PERFORM set_config('app.user_id', p_user::text, true);
    SELECT u.status = 'active' AND u.email_verified_at IS NOT NULL INTO active
      FROM users u WHERE u.id = p_user;
    IF active IS NOT TRUE THEN
        user_active := false;
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_find_studio THEN
        PERFORM set_config('app.occurrence_id', p_occurrence::text, true);
        SELECT o.tenant_id INTO studio FROM class_schedules o WHERE o.id = p_occurrence;
        IF studio IS NULL THEN
            RETURN;
        END IF;
        PERFORM set_config('app.tenant_id', studio::text, true);
    END IF;
    RETURN QUERY
    SELECT o.id, o.tenant_id, c.id, c.name, c.class_type,
           c.credits_required, c.requires_membership, c.price, t.currency,
           o.start_time, o.end_time, o.status, o.capacity, o.booked_count,
           o.booking_window_hours, c.booking_window_hours,
           o.cancellation_window_hours, c.cancellation_window_hours,
           t.settings, t.name, t.timezone,
           active.id, active.status,
           (SELECT b.id FROM bookings b
              JOIN class_schedules other ON other.id = b.class_schedule_id
             WHERE b.user_id = p_user AND b.status IN ('confirmed', 'held')
               AND other.start_time < o.end_time AND other.end_time > o.start_time
             LIMIT 1),
           (SELECT m.status FROM user_tenant_roles m
             WHERE m.tenant_id = o.tenant_id AND m.user_id = p_user
               AND m.status <> 'invited'),
           true
      FROM class_schedules o
      JOIN classes c ON c.id = o.class_id
      JOIN tenants t ON t.id = o.tenant_id
      LEFT JOIN LATERAL (SELECT b.id, b.status FROM bookings b
                          WHERE b.class_schedule_id = o.id AND b.user_id = p_user
                            AND b.status IN ('confirmed', 'waitlisted', 'held')
                          LIMIT 1) active ON true
     WHERE o.id = p_occurrence;
END
$$
"""


def upgrade() -> None:
    op.execute(BOOKING_ATTEMPT)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
