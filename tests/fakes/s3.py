"""A local S3 (moto's server) on 127.0.0.1 for the storage tests: the real boto3 client
talks to it over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto.server import ThreadedMotoServer

from tests.fakes.smtp import free_port

BUCKET = "studioloop-test"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@contextmanager
def fake_s3() -> Iterator[str]:
    """Yields the endpoint URL, with BUCKET created."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS
        ).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()
