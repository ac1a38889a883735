"""ETags and conditional GETs for the whole v1 API, in one place.

Every successful GET under /v1/ gets a strong ``ETag``: a hash of the body it sends. A caller that sends the tag
back in ``If-None-Match`` gets 304 with no body while the answer is unchanged. Tagging the body itself, rather than a
version number, is what makes the tag right for every endpoint: a match answer carries the corpus hash and the
model, so any change of corpus, model or ranking changes its tag, and a write to one organisation changes the tags
of exactly the answers that show it. Views may add ``Last-Modified`` (organisations do); ``If-Modified-Since`` is
then answered too.
"""

from __future__ import annotations

import hashlib

from flask import Flask, Response, request


def init_app(app: Flask) -> None:
    app.after_request(conditional)


def conditional(response: Response) -> Response:
    """Tag a 200 answer to a GET on the API, and turn it into a 304 when the caller's copy is current."""
    if (request.method not in ("GET", "HEAD") or response.status_code != 200 or response.is_streamed
            or not request.path.startswith("/v1/")):
        return response
    if response.get_etag()[0] is None:  # a record's own tag (what If-Match compares) is kept
        response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    response.make_conditional(request)  # changes the response in place: 304 and no body when current
    return response
