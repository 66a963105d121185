-- booking_attempt: everything the booking decision (booking/eligibility.py) needs, in one
-- round trip. Every way to take a seat reads it: a direct booking, a marketplace booking,
-- the payment of a lapsed seat hold, a promotion from the waitlist and the rush gate.
--
-- This is a template: the status lists in double braces are filled in from
-- booking/models.py, where those statuses are defined once. Migrations load a rendered,
-- frozen copy (migrations/sql/); tests/booking/test_attempt_sql.py fails when this file
-- and the newest copy differ, so a change here ships with its migration.
--
-- It runs as the caller (SECURITY INVOKER): row-level security applies as for any other
-- statement. It puts the member in the transaction's context (`app.user_id`), so their own
-- bookings at every studio are visible for the clash rule; with `p_keep_caller` (reading
-- another member's attempt inside someone else's transaction: a promotion, a payment's
-- confirmation) the caller's context is restored before it returns. With `p_find_studio`
-- the studio is found from the occurrence (its narrow by-id policy) and put in context;
-- without it the caller's studio is in context already, and an occurrence of another
-- studio is not seen (no row).
--
-- A member whose account is not active (or not verified) gets one row with `user_active`
-- false and nothing else.
-- occurrence_facts: a class occurrence as booking sees it (booking/eligibility.py
-- `OccurrenceFacts`): the class, its studio, its seats and windows. Plain SQL and STABLE,
-- so it is inlined into `booking_attempt` below and into the statements that read it alone.
CREATE FUNCTION occurrence_facts(p_occurrence uuid)
RETURNS TABLE (
    id uuid, tenant_id uuid, class_id uuid, class_name varchar, class_type varchar,
    credits_required integer, requires_membership boolean, price integer, currency varchar,
    start_time timestamptz, end_time timestamptz, status varchar, capacity integer,
    booked_count integer, booking_window_hours integer, class_booking_window_hours integer,
    cancellation_window_hours integer, class_cancellation_window_hours integer,
    settings jsonb, tenant_name varchar, timezone varchar,
    marketplace_seats integer, marketplace_booked integer
)
LANGUAGE sql STABLE
AS $$
SELECT o.id, o.tenant_id, c.id, c.name, c.class_type,
       c.credits_required, c.requires_membership, c.price, t.currency,
       o.start_time, o.end_time, o.status, o.capacity, o.booked_count,
       o.booking_window_hours, c.booking_window_hours,
       o.cancellation_window_hours, c.cancellation_window_hours,
       t.settings, t.name, t.timezone,
       c.marketplace_seats, o.marketplace_booked
  FROM class_schedules o
  JOIN classes c ON c.id = o.class_id
  JOIN tenants t ON t.id = o.tenant_id
 WHERE o.id = p_occurrence
$$;

CREATE FUNCTION booking_attempt(
    p_occurrence uuid, p_user uuid, p_find_studio boolean, p_keep_caller boolean
)
RETURNS TABLE (
    id uuid, tenant_id uuid, class_id uuid, class_name varchar, class_type varchar,
    credits_required integer, requires_membership boolean, price integer, currency varchar,
    start_time timestamptz, end_time timestamptz, status varchar, capacity integer,
    booked_count integer, booking_window_hours integer, class_booking_window_hours integer,
    cancellation_window_hours integer, class_cancellation_window_hours integer,
    settings jsonb, tenant_name varchar, timezone varchar,
    marketplace_seats integer, marketplace_booked integer,
    booked uuid, booked_status varchar, clash uuid, membership_status varchar,
    future_bookings integer, same_day_bookings integer,
    has_membership boolean, unlimited boolean, unlimited_class_types varchar[],
    user_active boolean
)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    caller text := current_setting('app.user_id', true);
    studio uuid;
    active boolean;
BEGIN
    PERFORM set_config('app.user_id', p_user::text, true);
    SELECT u.status = 'active' AND u.email_verified_at IS NOT NULL INTO active
      FROM users u WHERE u.id = p_user;
    IF active IS NOT TRUE THEN
        user_active := false;
        RETURN NEXT;
    ELSE
        IF p_find_studio THEN
            PERFORM set_config('app.occurrence_id', p_occurrence::text, true);
            SELECT o.tenant_id INTO studio FROM class_schedules o WHERE o.id = p_occurrence;
            IF studio IS NOT NULL THEN
                PERFORM set_config('app.tenant_id', studio::text, true);
            END IF;
        END IF;
        IF studio IS NOT NULL OR NOT p_find_studio THEN
            RETURN QUERY
            SELECT f.id, f.tenant_id, f.class_id, f.class_name, f.class_type,
                   f.credits_required, f.requires_membership, f.price, f.currency,
                   f.start_time, f.end_time, f.status, f.capacity, f.booked_count,
                   f.booking_window_hours, f.class_booking_window_hours,
                   f.cancellation_window_hours, f.class_cancellation_window_hours,
                   f.settings, f.tenant_name, f.timezone,
                   f.marketplace_seats, f.marketplace_booked,
                   mine.id, mine.status,
                   (SELECT b.id FROM bookings b
                      JOIN class_schedules other ON other.id = b.class_schedule_id
                     WHERE b.user_id = p_user AND b.status IN ('confirmed', 'held')
                       AND b.class_schedule_id <> f.id
                       AND other.start_time < f.end_time AND other.end_time > f.start_time
                     LIMIT 1),
                   (SELECT m.status FROM user_tenant_roles m
                     WHERE m.tenant_id = f.tenant_id AND m.user_id = p_user
                       AND m.status <> 'invited'),
                   -- The studio's fairness caps, counted only when it has set them.
                   CASE WHEN (f.settings ->> 'max_future_bookings') IS NOT NULL THEN
                       (SELECT count(*)::integer FROM bookings b
                          JOIN class_schedules later ON later.id = b.class_schedule_id
                         WHERE b.user_id = p_user AND b.status IN ('confirmed', 'waitlisted', 'held')
                           AND later.start_time > now())
                   END,
                   CASE WHEN (f.settings ->> 'max_daily_bookings_per_class_type') IS NOT NULL
                   THEN
                       (SELECT count(*)::integer FROM bookings b
                          JOIN class_schedules same ON same.id = b.class_schedule_id
                          JOIN classes sc ON sc.id = same.class_id
                         WHERE b.user_id = p_user AND b.status IN ('confirmed', 'waitlisted', 'held')
                           AND sc.class_type = f.class_type
                           AND same.start_time >= date_trunc('day', f.start_time, 'UTC')
                           AND same.start_time < date_trunc('day', f.start_time, 'UTC')
                                                 + interval '1 day')
                   END,
                   e.user_id IS NOT NULL, coalesce(e.unlimited, false), e.class_types,
                   true
              FROM occurrence_facts(p_occurrence) f
              LEFT JOIN LATERAL (SELECT b.id, b.status FROM bookings b
                                  WHERE b.class_schedule_id = f.id AND b.user_id = p_user
                                    AND b.status IN ('confirmed', 'waitlisted', 'held')
                                  LIMIT 1) mine ON true
              -- The membership's entitlement is billing's to define (billing/entitlement.sql).
              LEFT JOIN LATERAL member_entitlement(f.tenant_id, p_user) e ON true;
        END IF;
    END IF;
    IF p_keep_caller THEN
        PERFORM set_config('app.user_id', coalesce(caller, ''), true);
    END IF;
END
$$;
