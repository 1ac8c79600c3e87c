"""onnxruntime sessions, created on the CPU with an explicit provider and bounded threads."""

from __future__ import annotations

import os

import numpy as np

from bioveil.errors import MissingDependencyError


def cpu_threads() -> int:
    """Threads inside one model run: 1 by default, as bioveil runs passes and files side by side
    instead (measured faster on 2 cores than two threads per run); BIOVEIL_THREADS overrides."""
    return max(1, int(os.environ.get("BIOVEIL_THREADS", "1")))


def cpu_session(model: bytes | str):
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependencyError("onnxruntime models", "pip install onnxruntime") from exc
    onnxruntime.set_default_logger_severity(3)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = cpu_threads()
    options.inter_op_num_threads = 1
    # Idle threads must not spin: photos in flight and the other detector's threads need the cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # onnxruntime >= 1.32 lists an Azure provider first: ask for the CPU by name.
    return onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def padded_blob(image: np.ndarray, mean: float = 0.0, scale: float = 1.0, multiple: int = 32) -> np.ndarray:
    """An (h, w, 3) image as a (1, 3, H, W) float32 blob, (pixels - mean) * scale, zero-padded at the
    bottom and right to a multiple of ``multiple`` (fully convolutional detectors' strides)."""
    height, width = image.shape[:2]
    blob = np.zeros((1, 3, -(-height // multiple) * multiple, -(-width // multiple) * multiple), dtype=np.float32)
    inner = blob[0, :, :height, :width]
    inner[...] = image.transpose(2, 0, 1)
    if mean:
        inner -= mean
    if scale != 1.0:
        inner *= scale
    return blob
