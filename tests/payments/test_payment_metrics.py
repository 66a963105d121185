"""Payment outcomes by provider and the webhooks' processing delay on /metrics."""

from __future__ import annotations

from tests.conftest import Owner
from tests.metrics import sample, scrape, value
from tests.payments.conftest import RunJobs, ShopStudio

PAYMENTS = "studioloop_payments_total"
DELAY = "studioloop_webhook_processing_delay_seconds"


async def test_outcomes_are_counted_by_provider_and_webhook_delay_observed(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    outcomes = ("succeeded", "failed", "canceled")
    before = {o: await value(client, PAYMENTS, provider="sandbox", outcome=o) for o in outcomes}
    # The histogram lives as long as the process, so earlier tests' webhooks are in it.
    delays_before = await value(client, f"{DELAY}_count", provider="sandbox")
    delay_sum_before = await value(client, f"{DELAY}_sum", provider="sandbox")

    member = await shop.new_member()
    package = await shop.package()
    for button in ("pay", "decline", "abandon"):
        started = (await shop.purchase(member, package["id"])).json()
        await shop.checkout(started["checkout_url"], button)
    # Received, not yet processed: nothing counted, and the three jobs wait in their queue.
    text = await scrape(client)
    assert sample(text, f"{DELAY}_count", provider="sandbox") in (None, delays_before)
    assert sample(text, "studioloop_job_queue_waiting", queue="payments") == 3
    age = sample(text, "studioloop_job_queue_oldest_waiting_seconds", queue="payments")
    assert age is not None and 0 < age < 60
    await run_jobs()

    after = {o: await value(client, PAYMENTS, provider="sandbox", outcome=o) for o in outcomes}
    assert after == {o: before[o] + 1 for o in outcomes}
    text = await scrape(client)
    assert sample(text, "studioloop_job_queue_waiting", queue="payments") == 0
    assert sample(text, f"{DELAY}_count", provider="sandbox") == delays_before + 3
    delay_sum = sample(text, f"{DELAY}_sum", provider="sandbox")
    waited = owner_db.value(
        "SELECT sum(extract(epoch FROM processed_at - received_at)) FROM webhook_events"
    )
    assert delay_sum is not None and abs(delay_sum - delay_sum_before - float(waited)) < 0.001
    assert sample(text, f"{DELAY}_bucket", provider="sandbox", le="+Inf") == delays_before + 3

    # Processing the same events again (a job run twice) counts nothing more.
    owner_db.rows(
        "UPDATE procrastinate_jobs SET status = 'todo' WHERE task_name = 'process_webhook_event'"
    )
    await run_jobs()
    assert (
        await value(client, PAYMENTS, provider="sandbox", outcome="succeeded") == after["succeeded"]
    )
    assert await value(client, f"{DELAY}_count", provider="sandbox") == delays_before + 3
