"""The service a user would write first: Flask + sentence-transformers ``util.semantic_search``, torch backend.

The baseline of ``make bench``: same model (the bundled all-MiniLM-L6-v2), same organisations (the bundled
corpus), same request shape as ``POST /v1/match`` (text, countries, k). It embeds every profile at start-up, then
per request encodes the text with the default torch backend, scores every organisation, and filters countries
in Python afterwards. No BM25, no explanations: it does less work per request than the product.

    .venv/bin/gunicorn -w 1 --threads 4 -b 127.0.0.1:8001 'benchmarks.naive_service:create_app()'
"""

from __future__ import annotations

from flask import Flask, jsonify, request


def create_app(corpus_dir: str | None = None) -> Flask:
    from sentence_transformers import SentenceTransformer, util

    from corpus.loaders import default_data_dir, load_organisations
    from embeddings.sentence import bundled_model_path

    organisations = load_organisations(corpus_dir or default_data_dir())
    model = SentenceTransformer(str(bundled_model_path()), device="cpu")
    corpus = model.encode([o.profile_text() for o in organisations], convert_to_tensor=True,
                          normalize_embeddings=True)
    app = Flask(__name__)

    @app.post("/v1/match")
    def match():
        body = request.get_json(force=True)
        k = int(body.get("k", 10))
        countries = set(body.get("countries") or [])
        query = model.encode(body["text"], convert_to_tensor=True, normalize_embeddings=True)
        hits = util.semantic_search(query, corpus, top_k=len(organisations))[0]
        results = []
        for hit in hits:
            org = organisations[hit["corpus_id"]]
            if countries and org.country not in countries:
                continue
            results.append({"rank": len(results) + 1, "score": round(float(hit["score"]), 4), "id": org.id,
                            "name": org.name, "country": org.country, "org_type": org.org_type})
            if len(results) == k:
                break
        return jsonify({"results": results})

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app
