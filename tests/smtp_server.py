"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, keeping every message it accepts.

It listens on a port chosen once, so a test can start it late or stop and restart it there
(a mail server that was down and came back).
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port nothing listens on right now, on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        return self.message.get_content()


class Inbox:
    """The aiosmtpd handler: accepts everything, keeps it parsed."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        parsed = message_from_bytes(envelope.original_content or envelope.content,
                                    policy=policy.default)
        with self._lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return list(self.inbox.received)

    @property
    def running(self) -> bool:
        return self._controller is not None

    config_dir: str | None = None  # a config whose boxes have addresses (conftest's smtp)

    def settings(self) -> dict[str, object]:
        """The app settings that send mail here, with a config whose teams have addresses
        (the shipped one has none: nobody to write to)."""
        found: dict[str, object] = {"SMTP_HOST": self.host, "SMTP_PORT": self.port}
        if self.config_dir:
            found["IVR_CONFIG_DIR"] = self.config_dir
        return found

    def start(self) -> SmtpServer:
        if self._controller is None:
            # server_hostname: no getfqdn() lookup for the banner.
            controller = Controller(self.inbox, hostname=self.host, port=self.port,
                                    server_hostname="localhost", ready_timeout=5)
            controller.start()
            self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
