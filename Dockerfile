# tpdoctor as a container image, for the Kubernetes examples in deploy/kubernetes/ (image tpdoctor:0.1.0).
#
#   docker build -t tpdoctor:0.1.0 .                        # slim: scan, health, collect, check-deployment, fleet
#   docker build --target bench -t tpdoctor:0.1.0-bench .   # + torch, for `tpdoctor bench` / `health --bench`
#   docker build --target bench --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu \
#       -t tpdoctor:0.1.0-bench-cpu .                       # + the CPU build of torch (gloo only, ~200 MB)
#
# No NVIDIA library is in the image: the NVIDIA container runtime mounts the node's driver (libnvidia-ml,
# nvidia-smi) when the pod asks for it (runtimeClassName: nvidia, NVIDIA_DRIVER_CAPABILITIES=utility; the
# bench image needs `compute` too). tpdoctor runs as root because the node checks read every GPU.
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE ./
COPY tpdoctor ./tpdoctor
COPY rules ./rules
COPY schemas ./schemas
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:${PYTHON_VERSION}-slim AS slim
LABEL org.opencontainers.image.title="tpdoctor" \
      org.opencontainers.image.description="GPU-topology and NVLink doctor for tensor-parallel LLM inference" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/tpdoctor/tpdoctor"
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=utility
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels && tpdoctor --version
ENTRYPOINT ["tpdoctor"]
CMD ["demo"]

FROM slim AS bench
ARG TORCH_SPEC="torch>=2.2"
ARG TORCH_INDEX_URL=""
ENV NVIDIA_DRIVER_CAPABILITIES=utility,compute
RUN pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$TORCH_SPEC" && python -c "import torch"

# the default target: the slim image
FROM slim
