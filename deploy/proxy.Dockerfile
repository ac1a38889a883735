# The proxy of compose.yaml: Debian's nginx, configured and started by scripts/proxy.sh (the same script and
# configuration as scripts/topology.sh uses on one machine), unprivileged on port 8080.
FROM debian:bookworm-slim
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/*
COPY scripts/proxy.sh /app/scripts/proxy.sh
ENV PM_PROXY_HOST=0.0.0.0 PM_PROXY_PORT=8080 PM_PROXY_DIR=/var/lib/partner-matcher-proxy PM_PROXY_FOREGROUND=1
EXPOSE 8080
CMD ["bash", "/app/scripts/proxy.sh", "start"]
