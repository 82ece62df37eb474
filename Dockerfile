# facev3 API image. Stage 1 builds the wheel (native core included); stage 2 is a CUDA runtime
# base with only the wheel and its dependencies, run as a non-root user.
#   docker build -t facev3-api .        (the Triton image is built by triton-infer-custom/build.sh)
ARG CUDA_BASE=nvidia/cuda:12.6.3-runtime-ubuntu24.04

FROM ${CUDA_BASE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-dev python3-venv g++ \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml CMakeLists.txt README.md ./
COPY cpp cpp
COPY python python
# openvino: the embedded backend's faster CPU runtime for SFace (and its bf16 embedder).
RUN /opt/venv/bin/pip install --no-cache-dir build && /opt/venv/bin/python -m build --wheel --outdir /wheels . \
    && /opt/venv/bin/pip install --no-cache-dir "/wheels/$(ls /wheels)[triton,robyn,openvino]"

FROM ${CUDA_BASE}
RUN apt-get update && apt-get install -y --no-install-recommends python3 libgomp1 \
    && rm -rf /var/lib/apt/lists/* && useradd --create-home --uid 10001 facev3
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
USER facev3
WORKDIR /home/facev3
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["facev3", "serve", "--server", "granian", "--host", "0.0.0.0", "--port", "8000"]
