"""The app as a server loads it (``gunicorn app:app``, ``flask --app app run``): a line that
refuses to start says why in one line, not in a traceback."""

from __future__ import annotations

import sys

from ivr import create_app
from ivr.clock import ClockError
from ivr.config import ConfigInvalid
from ivr.security import InsecureStart

try:
    app = create_app()
except ConfigInvalid as exc:
    sys.stderr.write("La ligne refuse de démarrer : sa configuration a des problèmes "
                     "(« ivr check » les montre) :\n" + str(exc) + "\n")
    raise SystemExit(4) from None  # gunicorn's "application failed to load": no retry loop
except (InsecureStart, ClockError, ValueError) as exc:
    sys.stderr.write(f"La ligne refuse de démarrer : {exc}\n")
    raise SystemExit(4) from None
