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
# Bodies are capped by the app (413, chunked ones too); the request line and headers by gunicorn, which refuses
# what it cannot parse or what exceeds these (400, 414, 431) before the app sees it: in the API's JSON error shape
# (below), as the proxy in front answers its own, tighter limits (docs/SECURITY.md).
limit_request_line = 8190  # bytes of "METHOD /path?query HTTP/1.1"
limit_request_fields = 100  # headers per request
limit_request_field_size = 8190  # bytes of one header line


def _json_error(sock, status_int, reason, mesg):
    """gunicorn's own error response (a request it could not parse or that broke a limit) in the API's one JSON
    error shape instead of gunicorn's HTML page; gunicorn calls it in place of ``gunicorn.util.write_error``."""
    import json

    from gunicorn.util import write_nonblock

    body = json.dumps({"error": {"code": reason.lower().replace(" ", "_"), "details": None, "message": (
        f"{mesg}; the request line must be under {limit_request_line} bytes, with at most {limit_request_fields} "
        f"headers of at most {limit_request_field_size} bytes each, in ASCII (percent-encode other bytes)")}})
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body.encode())}\r\n\r\n")
    write_nonblock(sock, head.encode("latin-1") + body.encode())


def on_starting(server):
    # The one place gunicorn (pinned in pyproject.toml) writes its error pages: every worker forks after this.
    import gunicorn.util

    gunicorn.util.write_error = _json_error
# The app logs one JSON object per line (with the request id); gunicorn's own access log stays plain text.
raw_env = ["PM_LOG_JSON=1"]
