#!/usr/bin/env bash
# The GPU path of vidnas in one run (issue 25): bf16 vs fp32 step, clips/s at the largest
# batch, a 1-process NCCL DDP step, a bit-exact resume, the loader against the step rate.
#   experiments/gpu_check.sh          on a CUDA machine (under 8 minutes on one GPU)
#   experiments/gpu_check.sh --cpu    CPU-sized (nano model, gloo), for CI
# Prints a table; exits non-zero when a check fails. PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
export CUBLAS_WORKSPACE_CONFIG="${CUBLAS_WORKSPACE_CONFIG:-:4096:8}"   # deterministic cuBLAS for the resume check
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" experiments/gpu_check.py "$@"
