# SAE Feature Explorer. CPU torch by default; for a CUDA build:
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t sae-explorer .
# Run (published on this machine's loopback only; see README "Sharing with colleagues"):
#   docker run -p 127.0.0.1:8501:8501 -v hf-cache:/data/huggingface sae-explorer
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# torch==2.13.0 resolves to 2.13.0+cpu (or +cuXXX) from this extra index; everything else from PyPI.
ENV PIP_EXTRA_INDEX_URL=${TORCH_INDEX} \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/data/huggingface \
    SAE_EXPLORER_CACHE=/data/cache

RUN useradd --create-home --uid 1000 explorer
WORKDIR /app

COPY requirements.txt .
# The same install step as the README's first command.
RUN pip install -r requirements.txt

COPY --chown=explorer:explorer . .
RUN mkdir -p /data/huggingface /data/cache && chown -R explorer:explorer /data

USER explorer
VOLUME ["/data/huggingface", "/data/cache"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"

# Inside the container the server must listen on all interfaces to be reachable through the
# published port; the `docker run` line above publishes it on the host's loopback only.
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501"]
