"""Ligne de soutien technologique en télésanté: a Twilio IVR router driven by YAML."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the package's pure parts (ivr.config, ivr.flow…) load without Flask
    from flask import Flask

REPO_ROOT = Path(__file__).resolve().parent.parent

# Settings read from the environment (spec: "Contracts other tools rely on"), then `config`.
SETTINGS = (
    "TWILIO_AUTH_TOKEN",
    "TWILIO_WEBHOOK_SHARED_KEY",
    "IVR_PUBLIC_URL",
    "IVR_TRUSTED_PROXIES",
    "DATABASE_URL",
    "IVR_SPOOL",
    "IVR_CONFIG_DIR",
    "IVR_NOW",
    "IVR_DEV",
    "IVR_VOICE",
    "IVR_VOICE_EN",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_BASE_URL",
    "TWILIO_LOOKUP_BASE_URL",
    "IVR_SMS_FROM",
    "IVR_LOOKUP",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "SMTP_STARTTLS",
    "SMTP_SSL",
    "IVR_MAIL_FROM",
    "IVR_JOURNAL_RETENTION_DAYS",
    "IVR_RELOAD_SECONDS",
    "IVR_OVERRIDES_SECONDS",
    "SECRET_KEY",
    "IVR_SECURE_COOKIES",
)
FLAGS = ("IVR_DEV", "IVR_SECURE_COOKIES", "IVR_LOOKUP")


def _env_flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on", "oui")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The Flask app, configured from the environment and then from ``config``."""
    from flask import Flask

    from ivr import (
        admin,
        clock,
        health,
        lines,
        lookup,
        notify,
        overrides_store,
        phone_admin,
        security,
        store,
        voice,
    )
    from ivr.config import (
        DEFAULT_EN_VOICE,
        EN_VOICE_PREFIXES,
        EN_VOICES,
        FR_CA_VOICE_PREFIXES,
        FR_CA_VOICES,
    )
    from ivr.request import LineRequest

    app = Flask(__name__, instance_relative_config=True)
    app.request_class = LineRequest
    app.config.from_mapping(
        IVR_CONFIG_DIR=str(REPO_ROOT),
        IVR_VOICE="Polly.Gabrielle-Neural",
        IVR_VOICE_EN=DEFAULT_EN_VOICE,
        IVR_DEV=False,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    for name in SETTINGS:
        if os.environ.get(name):
            value: Any = os.environ[name]
            app.config[name] = _env_flag(value) if name in FLAGS else value
    if config:
        app.config.update(config)
    voice_name = app.config["IVR_VOICE"]
    if voice_name not in FR_CA_VOICES and not voice_name.startswith(FR_CA_VOICE_PREFIXES):
        raise ValueError(f"IVR_VOICE: {voice_name!r} is not a fr-CA voice Twilio knows")
    english = app.config["IVR_VOICE_EN"]
    if english not in EN_VOICES and not english.startswith(EN_VOICE_PREFIXES):
        raise ValueError(f"IVR_VOICE_EN: {english!r} is not an English voice Twilio knows")
    if not app.debug and not app.testing and not app.config.get("IVR_CLI"):
        _log_off_the_call_path()  # a server's: a command writes its few lines itself

    security.init_app(app)
    clock.init_app(app)
    lines.init_app(app)
    store.init_app(app)
    overrides_store.init_app(app)  # the day's announcements and closures (issue 17)
    notify.init_app(app)  # the worker, with its outbox pass
    lookup.init_app(app)  # callers' line types, for the text offers
    voice.init_app(app)
    phone_admin.init_app(app)  # the managers' announcements by phone (*99, issue 17)
    health.init_app(app)
    admin.init_app(app)
    return app


def stop_threads(app: Flask) -> None:
    """End the threads this app started beside its requests: the config watcher, the
    journal's worker, the callers' line types, the database probe and the day's changes'
    watcher. For a test or a program that builds apps and goes on; a server's process ends
    them at exit."""
    from ivr.services import services

    parts = services(app)
    parts.line.stop()
    parts.worker.stop()
    parts.db_probe.stop()
    parts.line_types.stop()
    parts.overrides.stop()


def _log_off_the_call_path() -> None:
    """Log records go through a queue to a thread that writes them, so a slow stderr (a full
    pipe, a journald hiccup) never delays a webhook. Done once per process."""
    import atexit
    import queue
    from logging.handlers import QueueHandler, QueueListener

    root = logging.getLogger()
    if any(isinstance(h, QueueHandler) for h in root.handlers):
        return
    if not root.handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    class FormatLater(QueueHandler):
        """The listener's handlers format the record, on their thread, not the request's
        (an access line becomes JSON there: ivr.accesslog)."""

        def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
            return record

    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = QueueListener(records, *root.handlers, respect_handler_level=True)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(FormatLater(records))
    listener.start()
    atexit.register(listener.stop)

    def restart_in_child() -> None:  # gunicorn --preload forks after this: threads don't follow
        listener._thread = None
        listener.start()

    os.register_at_fork(after_in_child=restart_in_child)
