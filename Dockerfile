FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/drift

# xmlsec1 verifies SAML signatures (pysaml2 runs it; app/sso/saml.py)
RUN apt-get update && apt-get install -y --no-install-recommends xmlsec1 \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml requirements.lock README.md ./
COPY app ./app
COPY alembic ./alembic
COPY alembic.ini ./
RUN pip install --no-cache-dir -c requirements.lock -e . \
    && useradd --system --uid 10001 drift \
    && mkdir -p /srv/drift/data && chown drift /srv/drift/data

USER drift
ENV DRIFT_DATA_DIR=/srv/drift/data DRIFT_HOST=0.0.0.0 DRIFT_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz')" || exit 1
CMD ["drift-cloud", "serve", "--no-worker", "--workers", "2"]
