"""gunicorn settings for Partner Matcher (``gunicorn -c service/gunicorn.conf.py 'service:create_app()'``)."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("PM_THREADS", "4"))
# The first request of a worker may wait for the model to load; keep the timeout well above that.
timeout = int(os.environ.get("PM_TIMEOUT", "120"))
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("PM_LOG_LEVEL", "info")
# Bodies are capped by the app (413); the request line and headers by gunicorn.
limit_request_line = 8190
# The app logs one JSON object per line (with the request id); gunicorn's own access log stays plain text.
raw_env = ["PM_LOG_JSON=1"]
