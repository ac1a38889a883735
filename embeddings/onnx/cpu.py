"""What this machine's CPU decides for the ONNX backend: the int8 weight type it multiplies exactly, and how many
threads one encode uses."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# The int8 weight types: "s8" where ONNX Runtime multiplies int8 weights exactly (VNNI's int32 dot product; non-x86),
# "u8" on x86 without VNNI, whose VPMADDUBSW saturates int16 pair sums with signed weights but not unsigned ones.
INT8_WEIGHTS = ("s8", "u8")


def default_threads() -> int:
    """Intra-op threads for one query: every core this process may use (ONNX Runtime's default also counts
    hyper-threads, which slow a single small query down on shared machines)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def int8_weights() -> str:
    """The int8 weight type this machine multiplies exactly (see ``INT8_WEIGHTS``): "u8" on x86 without VNNI, else
    "s8". Where the CPU's features cannot be read (x86 outside Linux), "u8", which no x86 CPU saturates."""
    if platform.machine().lower() not in {"x86_64", "amd64", "i386", "i686", "x86"}:
        return "s8"  # ARM and others multiply int8 in widening dot products, without saturation
    flags = _cpu_flags()
    return "s8" if flags is not None and {"avx512_vnni", "avx_vnni"} & flags else "u8"


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags as Linux lists them, or None where /proc/cpuinfo cannot be read."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return set(next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), []))
