from ivr.wsgi import app  # noqa: F401  (gunicorn app:app, flask --app app run)
