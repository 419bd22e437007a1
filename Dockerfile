# One image, three roles (SERVICE_ROLE=backend | celery | beat), see entrypoint.sh.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM python:3.11-slim
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLASK_ENV=production \
    PORT=5050
RUN useradd --create-home --uid 10001 shop
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/shop
COPY --chown=shop:shop . .
USER shop
EXPOSE 5050
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"5050\")}/healthz', timeout=2)" || exit 1
ENTRYPOINT ["./entrypoint.sh"]
