"""Ligne de soutien technologique en télésanté: a Twilio IVR router driven by YAML."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

REPO_ROOT = Path(__file__).resolve().parent.parent

# Settings read from the environment (spec: "Contracts other tools rely on"), then `config`.
SETTINGS = (
    "TWILIO_AUTH_TOKEN",
    "TWILIO_WEBHOOK_SHARED_KEY",
    "IVR_PUBLIC_URL",
    "IVR_TRUSTED_PROXIES",
    "DATABASE_URL",
    "IVR_CONFIG_DIR",
    "IVR_NOW",
    "IVR_DEV",
    "IVR_VOICE",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_BASE_URL",
    "IVR_SMS_FROM",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "SMTP_STARTTLS",
    "SMTP_SSL",
    "IVR_MAIL_FROM",
    "IVR_JOURNAL_RETENTION_DAYS",
)
FLAGS = ("IVR_DEV",)


def _env_flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on", "oui")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The Flask app, configured from the environment and then from ``config``."""
    from ivr import clock, lines, notify, security, store, voice
    from ivr.config import FR_CA_VOICE_PREFIXES, FR_CA_VOICES

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        IVR_CONFIG_DIR=str(REPO_ROOT),
        IVR_VOICE="Polly.Gabrielle-Neural",
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
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")

    security.init_app(app)
    clock.init_app(app)
    lines.init_app(app)
    store.init_app(app)
    notify.init_app(app)  # the worker, with its outbox pass
    voice.init_app(app)
    return app
