"""TFLite models: the runtime, the labels, and how to read inputs and outputs."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Unavailable


class ModelError(Unavailable):
    """A model or labels file that cannot be used; the message says why."""


def interpreter_class() -> Any:
    """LiteRT's Interpreter; tflite-runtime's where only that is installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter as FromTfliteRuntime
    except ImportError as exc:
        raise ModelError("no TFLite runtime: pip install ai-edge-litert") from exc
    return FromTfliteRuntime


LABEL_FILES = ("dict.txt", "labels.txt")


def read_labels(text: str) -> list[str]:
    """One label a line; AutoML's underscores shown as spaces."""
    return [line.strip().replace("_", " ") for line in text.splitlines() if line.strip()]


def embedded_labels(model_bytes: bytes) -> list[str] | None:
    """The labels file packed into a .tflite (which is also a zip), if any."""
    if not zipfile.is_zipfile(io.BytesIO(model_bytes)):
        return None
    with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
        names = [n for n in archive.namelist() if n.endswith(".txt")]
        if not names:
            return None
        return read_labels(archive.read(names[0]).decode("utf-8", errors="replace"))


@dataclass(frozen=True)
class ModelSpec:
    """A model file and its labels, checked against each other."""

    path: Path
    content: bytes
    labels: tuple[str, ...]
    input_size: tuple[int, int]  # width, height
    input_dtype: Any
    input_quant: tuple[float, int]
    output_quant: tuple[float, int]
    output_dtype: Any

    @property
    def name(self) -> str:
        return self.path.stem

    def to_input(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 HxWx3 pixels to the model's input tensor."""
        if self.input_dtype == np.uint8:
            return rgb[np.newaxis]
        scale, zero = self.input_quant
        if self.input_dtype == np.int8:
            values = np.round((rgb.astype(np.float32) - 128.0) / 128.0 / scale + zero)
            return np.clip(values, -128, 127).astype(np.int8)[np.newaxis]
        return ((rgb.astype(np.float32) - 127.5) / 127.5)[np.newaxis]

    def to_scores(self, raw: np.ndarray) -> np.ndarray:
        """Output tensor to probabilities: dequantized with the tensor's own scale and zero point.

        Quantized and [0, 1] outputs are probabilities already (softmax or sigmoid alike);
        float outputs outside [0, 1] are logits and get a softmax.
        """
        values = raw.reshape(-1)
        scale, zero = self.output_quant
        if self.output_dtype in (np.uint8, np.int8) and scale:
            return (values.astype(np.float32) - zero) * scale
        values = values.astype(np.float32)
        if values.min() < 0 or values.max() > 1:
            exp = np.exp(values - values.max())
            return exp / exp.sum()
        return values


def load_spec(path: Path, labels_path: Path | None = None) -> ModelSpec:
    if not path.is_file():
        raise ModelError(f"no model file at {path}")
    content = path.read_bytes()
    labels = None
    if labels_path is not None:
        if not labels_path.is_file():
            raise ModelError(f"no labels file at {labels_path}")
        labels = read_labels(labels_path.read_text(encoding="utf-8", errors="replace"))
    else:
        labels = embedded_labels(content)
        sibling = next((path.parent / n for n in LABEL_FILES if (path.parent / n).is_file()), None)
        if labels is None and sibling is not None:
            labels = read_labels(sibling.read_text(encoding="utf-8", errors="replace"))
    if not labels:
        raise ModelError(f"{path}: no labels (embedded, dict.txt beside it, or OIE_MODEL_LABELS)")
    try:
        interpreter = interpreter_class()(model_content=content)
        interpreter.allocate_tensors()
    except ValueError as exc:
        raise ModelError(f"{path} is not a TFLite model: {exc}") from exc
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    shape = list(inp["shape"])
    if len(shape) != 4 or shape[3] != 3:
        raise ModelError(f"{path}: expected an image input [1, H, W, 3], found {shape}")
    outputs = int(np.prod(out["shape"]))
    if outputs != len(labels):
        raise ModelError(f"{path}: {outputs} outputs but {len(labels)} labels")
    return ModelSpec(
        path=path,
        content=content,
        labels=tuple(labels),
        input_size=(int(shape[2]), int(shape[1])),
        input_dtype=inp["dtype"],
        input_quant=tuple(inp["quantization"]),
        output_quant=tuple(out["quantization"]),
        output_dtype=out["dtype"],
    )
