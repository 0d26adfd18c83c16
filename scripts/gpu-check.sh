#!/usr/bin/env bash
# The GPU check kit: run tpdoctor's hardware tests on a machine with one or more NVIDIA GPUs and keep
# that machine's raw captures, in under five minutes.
#
#   scripts/gpu-check.sh [--dry-run] [OUT_DIR]
#
# Needs the usual stack: the NVIDIA driver (nvidia-smi), Python 3.11+ with a CUDA build of torch and
# nvidia-ml-py. tpdoctor is installed from this checkout into a virtual environment that sees the
# system's packages (so the machine's own CUDA torch is used; `.[test]` never pulls torch). Then:
#   1. raw captures of this machine into OUT_DIR/captures: `tpdoctor collect` (every nvidia-smi output
#      tpdoctor reads, plus the NVML snapshot), `nvidia-smi -q`, `nvidia-smi nvlink -R`, `tpdoctor scan
#      --json` with each probe, and versions (driver, torch, NCCL);
#   2. the `gpu` and `multi_gpu` tests (tests/gpu/): the live NVML scan equals the nvidia-smi scan pair by
#      pair; collect -> replay round-trips; an NCCL all-reduce at world size 1 and on every GPU present
#      (node and pairs, when there are two or more); the NVML index -> CUDA ordinal mapping by PCI bus id;
#      a real CUDA process on GPU0, launched as a vLLM API server, found by the live path (NVML's and
#      nvidia-smi's compute-process tables, /proc) as a running TP group (docs/running.md).
#      Results in OUT_DIR/junit.xml and OUT_DIR/pytest.log.
# Add OUT_DIR/captures/collect to fixtures/ with a provenance file (fixtures/smi/*/*.meta.yaml shows the
# fields) when the machine is new to the corpus.
#
# Settings (environment): PYTHON [python3], TPD_GPU_CHECK_VENV [.gpu-check-venv],
# TPD_GPU_CHECK_NO_INSTALL=1 (use $PYTHON as it is: tpdoctor and pytest already importable).
# Exit: 0 every test passed, 1 a test failed, 3 the machine cannot run the kit (no driver, no CUDA torch).
# --dry-run checks this script's environment and prints every step without running it (any machine).

set -euo pipefail
cd "$(dirname "$0")/.."

dry=0
if [ "${1:-}" = "--dry-run" ]; then dry=1; shift; fi
out=${1:-gpu-check-$(hostname -s 2>/dev/null || hostname)-$(date -u +%Y%m%dT%H%M%SZ)}
python=${PYTHON:-python3}
venv=${TPD_GPU_CHECK_VENV:-.gpu-check-venv}
budget=270  # seconds for the tests; captures and install take the rest of the five minutes

say() { printf '%s\n' "$*" >&2; }
run() {  # run (or, dry, print) one step
    say "+ $*"
    if [ "$dry" = 0 ]; then "$@"; fi
}
capture() {  # capture NAME CMD...: keep stdout+stderr of a command that may fail, with its exit status
    local name=$1; shift
    say "+ $* > captures/$name"
    if [ "$dry" = 0 ]; then
        local rc=0
        timeout 60 "$@" > "$out/captures/$name" 2>&1 || rc=$?
        printf '%s\n' "$rc" > "$out/captures/$name.rc"
    fi
}
cannot() { say "gpu-check: cannot run here: $*"; [ "$dry" = 1 ] || exit 3; }

# ---- preflight ---------------------------------------------------------------------------------------
command -v nvidia-smi > /dev/null 2>&1 || cannot "nvidia-smi not found (no NVIDIA driver on this machine)"
if [ "$dry" = 0 ]; then
    nvidia-smi -L > /dev/null 2>&1 || cannot "nvidia-smi -L failed: the driver cannot be reached"
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || cannot "$python is not Python 3.11 or newer"
if [ "$dry" = 0 ]; then
    "$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null \
        || cannot "no CUDA build of torch for $python (torch.cuda.is_available() is false)"
fi

# ---- install tpdoctor from this checkout, without pulling torch --------------------------------------
py=$python
if [ "${TPD_GPU_CHECK_NO_INSTALL:-0}" != 1 ]; then
    run "$python" -m venv --system-site-packages "$venv"
    py=$venv/bin/python
    run "$py" -m pip install --quiet -e '.[test]'
fi
run mkdir -p "$out/captures"

# ---- raw captures of this machine ---------------------------------------------------------------------
capture versions.txt "$py" -c 'import platform, torch, pynvml; pynvml.nvmlInit();
print("python", platform.python_version()); print("torch", torch.__version__, "cuda", torch.version.cuda,
"nccl", ".".join(map(str, torch.cuda.nccl.version()))); print("driver", pynvml.nvmlSystemGetDriverVersion())'
capture nvidia-smi-q.txt nvidia-smi -q
capture nvidia-smi-nvlink-R.txt nvidia-smi nvlink -R
capture nvidia-smi-L.txt nvidia-smi -L
capture nvidia-smi-query-compute-apps.csv nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv
run "$py" -m tpdoctor collect "$out/captures/collect" || say "gpu-check: tpdoctor collect failed (exit $?)"
for probe in nvml smi auto; do
    capture "scan-$probe.json" "$py" -m tpdoctor scan --probe "$probe" --json
done
capture health.txt "$py" -m tpdoctor health

# ---- the gpu / multi_gpu tests -------------------------------------------------------------------------
rc=0
say "+ pytest -m 'gpu or multi_gpu' tests/gpu (budget ${budget}s) | tee pytest.log"
if [ "$dry" = 0 ]; then
    set +e
    TPD_GPU_CHECK_OUT="$out/captures" timeout "$budget" "$py" -m pytest -p no:cacheprovider -m "gpu or multi_gpu" \
        --timeout 120 --junitxml "$out/junit.xml" tests/gpu 2>&1 | tee "$out/pytest.log"
    rc=${PIPESTATUS[0]}
    set -e
fi
say "gpu-check: captures and results in $out"
[ "$dry" = 1 ] && exit 0
[ "$rc" = 0 ] && exit 0
exit 1
