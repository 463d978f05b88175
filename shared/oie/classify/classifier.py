"""Classify image bytes with a TFLite model; safe to share between threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .images import DEFAULT_LIMITS, Limits, decode
from .labels import Labels, Outcome, Prediction
from .model import ModelSpec, interpreter_class


def select(scores: np.ndarray, labels: tuple[str, ...], min_confidence: float,
           top_k: int | None) -> tuple[Prediction, ...]:  # fmt: skip
    """Highest first, cut at the first score under min_confidence (as the seed did)."""
    order = np.argsort(-scores, kind="stable")
    out = []
    for i in order[: top_k or len(order)]:
        score = float(scores[i])
        if score < min_confidence:
            break
        out.append(Prediction(labels[i], round(score, 6)))
    return tuple(out)


class Classifier(Labels):
    """One interpreter per thread: the TFLite Interpreter is not thread-safe."""

    def __init__(
        self, spec: ModelSpec, limits: Limits = DEFAULT_LIMITS, threads_per_invoke: int = 1
    ):
        self.spec = spec
        self.limits = limits
        self._threads = threads_per_invoke
        self._local = threading.local()
        self._cls = interpreter_class()

    @property
    def model(self) -> str:
        return self.spec.name

    def _interpreter(self) -> Any:
        it = getattr(self._local, "interpreter", None)
        if it is None:
            it = self._cls(model_content=self.spec.content, num_threads=self._threads)
            it.allocate_tensors()
            self._local.interpreter = it
            self._local.input = it.get_input_details()[0]["index"]
            self._local.output = it.get_output_details()[0]["index"]
        return it

    def scores(self, data: bytes) -> np.ndarray:
        """Probabilities for every label; RejectedImage for anything not a usable image."""
        rgb = np.asarray(decode(data, self.spec.input_size, self.limits), dtype=np.uint8)
        it = self._interpreter()
        it.set_tensor(self._local.input, self.spec.to_input(rgb))
        it.invoke()
        return self.spec.to_scores(it.get_tensor(self._local.output))

    def classify(self, data: bytes, min_confidence: float = 0.25,
                 top_k: int | None = None) -> tuple[Prediction, ...]:  # fmt: skip
        return select(self.scores(data), self.spec.labels, min_confidence, top_k)

    def classify_many(
        self,
        items: Iterable[tuple[str, Callable[[], bytes]]],
        min_confidence: float = 0.25,
        top_k: int | None = None,
        workers: int = 2,
    ) -> Iterator[Outcome]:
        """Classify (name, read) pairs on `workers` threads; outcomes in input order."""

        def one(item: tuple[str, Callable[[], bytes]]) -> Outcome:
            name, read = item
            try:
                data = read()
            except OSError as exc:
                return Outcome(name, error=f"cannot read: {exc.strerror or exc}")
            return self.outcome(name, data, min_confidence, top_k)

        if workers <= 1:
            yield from map(one, items)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="classify") as pool:
            yield from pool.map(one, items)
