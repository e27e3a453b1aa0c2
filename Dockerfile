FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
WORKDIR /srv/kefu
# The locked runtime with the sentence-transformers backend (KEFU_EMBEDDING_BACKEND=
# sentence-transformers), torch as its CPU build from the PyTorch CPU index.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY requirements-st.lock ./
RUN pip install --extra-index-url "$TORCH_INDEX" -r requirements-st.lock
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY ingestion ./ingestion
COPY knowledge ./knowledge
COPY migrations ./migrations
COPY prompts ./prompts
COPY demo ./demo
RUN pip install --no-deps -e .
EXPOSE 8000
CMD ["kefu", "serve", "--host", "0.0.0.0", "--port", "8000"]
