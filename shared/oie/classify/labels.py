"""What every labeler answers (the TFLite classifier, Cloud Vision); no numpy needed here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .images import RejectedImage


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float


@dataclass(frozen=True)
class Outcome:
    """One file's answer: predictions, or the reason it was rejected."""

    name: str
    predictions: tuple[Prediction, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Labeler(Protocol):
    """What every labeler answers: the TFLite classifier and Cloud Vision."""

    @property
    def model(self) -> str: ...

    def classify(self, data: bytes, min_confidence: float = 0.25,
                 top_k: int | None = None) -> tuple[Prediction, ...]: ...  # fmt: skip

    def outcome(self, name: str, data: bytes, min_confidence: float = 0.25,
                top_k: int | None = None) -> Outcome: ...  # fmt: skip


class Labels:
    """A labeler's per-file answer (`outcome`), made from its `classify`."""

    def classify(self, data: bytes, min_confidence: float = 0.25,
                 top_k: int | None = None) -> tuple[Prediction, ...]:  # fmt: skip
        raise NotImplementedError

    def outcome(self, name: str, data: bytes, min_confidence: float = 0.25,
                top_k: int | None = None) -> Outcome:  # fmt: skip
        """Predictions, or the reason the file was rejected; other errors still raise."""
        try:
            return Outcome(name, self.classify(data, min_confidence, top_k))
        except RejectedImage as exc:
            return Outcome(name, error=str(exc))
