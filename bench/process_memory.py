"""This process's memory as Linux reports it (/proc/self/status), for the benchmarks that measure peaks."""

from __future__ import annotations

from pathlib import Path


def status_mb(field: str) -> float:
    """A field of /proc/self/status (VmRSS, VmHWM, ...) in MB; 0 where it is missing."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> float:
    """Start the peak memory (VmHWM) afresh from now (Linux's clear_refs); the memory now, in MB."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_mb("VmRSS")
