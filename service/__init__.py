"""The HTTP service: Flask app factory over the matcher core. Importing this module does no work."""

from __future__ import annotations

from flask import Flask

from matcher import PartnerMatcher, Settings
from service.json_provider import OrjsonProvider

__all__ = ["create_app"]

DEFAULTS = {
    "MAX_CONTENT_LENGTH": 1024 * 1024,  # far above any brief; larger bodies get a 413
    "LOAD_IN_BACKGROUND": True,  # serve /healthz at once; /readyz says 503 until the index is loaded
}


def create_app(config: dict | None = None) -> Flask:
    """Build the app. ``config`` may hold Flask settings plus:

    - ``SETTINGS``: a ``matcher.Settings`` (default: ``Settings.from_env()``, the ``PM_*`` environment variables);
    - ``MATCHER``: a ready ``PartnerMatcher`` (tests pass one built with a fake embedder);
    - ``LOAD_IN_BACKGROUND``: load or build the index in a thread (default) or before returning;
    - ``API_KEYS``, ``RATE_LIMIT``, ``CORS_ORIGINS``, ``PUBLIC_URL``: default from the settings.
    """
    # Blueprints are imported here, not at module level, so that importing the package stays cheap.
    from service import conditional, cors, guards, limits, observability
    from service.api import bp as api_bp
    from service.deps import LOADER, MATCHER
    from service.errors import register_error_handlers
    from service.health import bp as health_bp
    from service.loader import IndexLoader
    from service.openapi import bp as docs_bp
    from service.pages import bp as pages_bp
    from service.shortlists import bp as shortlists_bp
    from service.writes import bp as writes_bp

    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    app.json.sort_keys = False
    settings: Settings = app.config.get("SETTINGS") or Settings.from_env()
    matcher: PartnerMatcher = app.config.get("MATCHER") or PartnerMatcher(settings).open()
    app.extensions[MATCHER] = matcher
    # Name -> key, whichever form was passed (tests pass plain lists, as PM_API_KEYS may hold plain keys).
    app.config["API_KEYS"] = Settings.named_api_keys(app.config.get("API_KEYS", matcher.settings.api_keys))
    app.config.setdefault("RATE_LIMIT", settings.rate_limit)
    app.config.setdefault("CORS_ORIGINS", list(settings.cors_origins))
    app.config.setdefault("PUBLIC_URL", settings.public_url)
    if settings.log_json:
        observability.configure_json_logging(settings.log_level.upper())

    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind the proxy every peer is the proxy: the client's address (rate limits, logs) is in X-Forwarded-For.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    register_error_handlers(app)
    guards.init_app(app)
    # The order is the OpenAPI document's order of paths.
    for blueprint in (api_bp, writes_bp, shortlists_bp, docs_bp, pages_bp, health_bp):
        app.register_blueprint(blueprint)
    observability.init_app(app, matcher)
    limits.init_app(app)
    cors.init_app(app)
    conditional.init_app(app)

    loader = app.extensions[LOADER] = IndexLoader(matcher, on_loaded=app.extensions["pm_metrics"]["load_seconds"].set)
    loader.start(background=app.config["LOAD_IN_BACKGROUND"])
    return app
