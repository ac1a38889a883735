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
# Bodies are capped by the app (413, chunked ones too); the request line and headers by gunicorn, whose own refusals
# (414, 431, 400) are HTML: in production the proxy in front enforces limits no larger than these and answers them
# in JSON, so gunicorn's pages are only ever seen by a client reaching gunicorn directly (docs/SECURITY.md).
limit_request_line = 8190  # bytes of "METHOD /path?query HTTP/1.1"
limit_request_fields = 100  # headers per request
limit_request_field_size = 8190  # bytes of one header line
# The app logs one JSON object per line (with the request id); gunicorn's own access log stays plain text.
raw_env = ["PM_LOG_JSON=1"]
