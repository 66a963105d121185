"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import socket
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


class _Collector:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeSmtpServer:
    def __init__(self) -> None:
        self.collector = _Collector()
        self.port = free_port()
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[Message]:
        return self.collector.messages

    def __enter__(self) -> FakeSmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
