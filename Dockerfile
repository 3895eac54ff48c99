# syntax=docker/dockerfile:1
# Crier's production image: web (gunicorn), worker and beat all run from it.

FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ frontend/
RUN npm run build

FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
ENV UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
COPY --from=assets /src/static/dist static/dist
RUN export DJANGO_SETTINGS_MODULE=newsletter.settings SECRET_KEY=build-only \
        DATABASE_URL=postgres://unused/unused REDIS_URL=redis://unused:6379/0 \
    && /opt/venv/bin/python manage.py compilemessages --ignore .venv \
    && /opt/venv/bin/python manage.py collectstatic --noinput

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=newsletter.settings
RUN groupadd --system crier && useradd --system --gid crier --home-dir /app crier
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=crier:crier /app /app
RUN mkdir -p /app/var/media && chown -R crier:crier /app/var
WORKDIR /app
USER crier
EXPOSE 8000
CMD ["gunicorn", "newsletter.wsgi:application"]
