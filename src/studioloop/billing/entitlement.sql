-- member_entitlement: what a member's membership at a studio entitles them to, as one row
-- (no row: no membership). Billing's definition, which the booking decision reads inside
-- its one statement (booking/attempt.sql) and billing/entitlements.py asks directly.
--
-- An entitling subscription's status is one of ENTITLED_STATUSES (billing/models.py:
-- active, and past_due while a renewal is retried), and not inside a pause. A plan's `class_types` are
-- the types its unlimited bookings cover; empty: every type.
--
-- Plain SQL and STABLE, so the planner inlines it into the statement that calls it. It
-- runs as the caller: row-level security applies. Migrations load a rendered, frozen copy
-- (migrations/sql/); tests/booking/test_attempt_sql.py keeps the two equal.
CREATE FUNCTION member_entitlement(p_tenant uuid, p_user uuid)
RETURNS TABLE (user_id uuid, unlimited boolean, class_types varchar[])
LANGUAGE sql STABLE
AS $$
SELECT s.user_id, p.unlimited, p.class_types
  FROM subscriptions s
  JOIN membership_plans p ON p.id = s.plan_id
 WHERE s.tenant_id = p_tenant AND s.user_id = p_user
   AND s.status IN ({{ENTITLED_STATUSES}})
   AND NOT (s.paused_from IS NOT NULL AND s.paused_from <= now() AND now() < s.paused_until)
 LIMIT 1
$$;
