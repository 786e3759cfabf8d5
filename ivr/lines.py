"""The configuration the line serves now, held for the app.

Loaded once at start-up (a config that fails validation stops the app from starting: a line
that would strand callers must never go live). Requests read ``current_config()``.
"""

from __future__ import annotations

from flask import Flask, current_app

from ivr.config import Config, load


class LineConfig:
    """Holds the served config; one object per app so tests can run several apps side by side."""

    def __init__(self, config: Config) -> None:
        self.config = config


def init_app(app: Flask) -> None:
    app.extensions["ivr.line"] = LineConfig(load(app.config["IVR_CONFIG_DIR"]))


def current_config() -> Config:
    return current_app.extensions["ivr.line"].config
