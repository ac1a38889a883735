# Partner Matcher: the same service `make run` starts, in a container.
# Build: docker build -t partner-matcher .    Run: docker run -p 8000:8000 partner-matcher
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    HOST=0.0.0.0 \
    PORT=8000 \
    PM_DATA_DIR=/data

WORKDIR /app
# torch first and pinned to the CPU wheel index, so pip never pulls a CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY corpus ./corpus
COPY embeddings ./embeddings
COPY matcher ./matcher
COPY service ./service
RUN pip install . && useradd --create-home --uid 1000 matcher && mkdir -p /data && chown matcher /data

USER matcher
# The index is built at start and kept in /data, not baked into the image, so new data never needs a rebuild of it.
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz').status == 200 else 1)"
CMD ["matcher", "serve"]
