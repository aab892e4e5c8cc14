"""Where a result came from: file checksums, the machine, and the library versions, recorded
beside exports, latency tables and benchmarks so that a number can be traced to what made it."""
from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path
from typing import Any

import torch


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def machine_info() -> dict[str, Any]:
    """The CPU model, core count, OS and GPU (if any) of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), "host": platform.node()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def library_versions() -> dict[str, str]:
    out = {"torch": torch.__version__, "python": platform.python_version()}
    for name in ("onnx", "onnxruntime", "onnxscript"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            pass
    return out
