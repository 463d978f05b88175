"""Where the model comes from: a setting, the assets folder, or a checked download."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..dataset.sources import download
from ..settings import Settings

DEFAULT_MODEL = "mobilenet_v2_1.0_224_quant.tflite"
DEFAULT_MODEL_URL = f"https://github.com/google-coral/test_data/raw/master/{DEFAULT_MODEL}"
DEFAULT_MODEL_SHA256 = "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776"


def model_path(s: Settings, progress: Callable[[int, int | None], None] | None = None) -> Path:
    """OIE_MODEL if set; else the default model from OIE_ASSETS, else downloaded once
    (`progress` is told of each chunk, as `download` tells it)."""
    if s.model is not None:
        return s.model
    if s.assets is not None and (s.assets / "models" / DEFAULT_MODEL).is_file():
        return s.assets / "models" / DEFAULT_MODEL
    return download(DEFAULT_MODEL_URL, s.data_dir / "models" / DEFAULT_MODEL,
                    DEFAULT_MODEL_SHA256, progress)  # fmt: skip
