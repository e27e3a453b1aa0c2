FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
WORKDIR /srv/kefu
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY ingestion ./ingestion
COPY knowledge ./knowledge
COPY migrations ./migrations
COPY prompts ./prompts
COPY demo ./demo
RUN pip install -e .
EXPOSE 8000
CMD ["kefu", "serve", "--host", "0.0.0.0", "--port", "8000"]
