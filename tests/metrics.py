"""Reading /metrics in tests: one sample's value, parsed with prometheus_client's parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name` with exactly these labels, or None if absent."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


async def value(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    """A counter's or gauge's current value; 0 when the labelled sample is not there yet."""
    return sample(await scrape(client), name, **labels) or 0.0
