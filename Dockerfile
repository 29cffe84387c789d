# The Tiếp Dân platform image: one image for the api, worker, beat and migrate services of
# docker-compose.yml, which pick the process with their `command`.
#
#   docker build -t tiepdan .
#
# Runtime dependencies only (no `dev` extra), pinned by constraints.txt, installed into a virtualenv in a
# build stage and copied into a clean slim image that runs as an unprivileged user.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src

# Dependencies first, read from pyproject.toml, so that a change to the code alone does not reinstall them.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
    && pip install -c constraints.txt -r /tmp/requirements.txt

# Then the project itself (not editable: the code lives in the virtualenv, /src is left behind).
COPY . .
RUN pip install -c constraints.txt . \
    && tiepdan --help >/dev/null


FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    TIEPDAN_ENVIRONMENT=production \
    TIEPDAN_VAR_DIR=/app/var

# /app is the working directory and the only writable place: var/ for runtime files (a volume in
# docker-compose.yml) and the Celery beat schedule file, which beat writes in its working directory.
RUN groupadd --system --gid 10001 tiepdan \
    && useradd --system --uid 10001 --gid tiepdan --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin tiepdan \
    && mkdir -p /app/var \
    && chown -R tiepdan:tiepdan /app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001

EXPOSE 8000

CMD ["tiepdan", "serve", "--host", "0.0.0.0", "--port", "8000"]
