app = __import__("ivr").create_app()  # `flask --app app run`, `gunicorn app:app`
