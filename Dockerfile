# syntax=docker/dockerfile:1
# rasid's container image: docs/deploy.md (compose.yaml runs it beside PostgreSQL).
#
#   docker build -t rasid .
#   docker run --init -v rasid-data:/var/lib/rasid rasid
#
# Settings: the bundled ones, or your own file mounted read-only and named by RASID_CONFIG
# (-v ./config:/etc/rasid:ro -e RASID_CONFIG=/etc/rasid/settings.toml).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: the wheel, and a virtual environment holding it and its dependencies --------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md settings.toml ./
COPY monitor ./monitor
COPY crawler ./crawler
COPY alerts ./alerts
# The dependencies' own test suites (numpy's, twisted's...) are about 40 of 345 MB, and
# nothing imports them.
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/rasid \
 && pip --python /opt/rasid/bin/python install /wheels/rasid-*.whl \
 && find /opt/rasid -type d -name tests -prune -exec rm -rf {} +

# -- the image: the environment alone, run by a user without privileges ---------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 rasid \
 && useradd --system --uid 10001 --gid rasid --no-create-home \
      --home-dir /var/lib/rasid --shell /usr/sbin/nologin rasid \
 && install -d -o rasid -g rasid -m 0750 /var/lib/rasid \
 && install -d -m 0755 /etc/rasid
COPY --from=build /opt/rasid /opt/rasid

# RASID_DATABASE_URL is read by the bundled settings (and by yours, if it says so):
# SQLite in the volume unless it names PostgreSQL. The web page listens on the container's
# loopback until RASID_WEB_LISTEN says otherwise (a user must exist first: docs/deploy.md).
ENV PATH=/opt/rasid/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RASID_DATABASE_URL=sqlite:////var/lib/rasid/rasid.db
WORKDIR /var/lib/rasid
VOLUME /var/lib/rasid
EXPOSE 8080
USER 10001:10001

# Asks the running service's /healthz, at the address its settings listen on.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["/opt/rasid/bin/python", "-m", "monitor.healthcheck"]

ENTRYPOINT ["/opt/rasid/bin/rasid"]
CMD ["run"]
