"""Classify image bytes with a TFLite model; safe to share between threads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
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


# Interpreters one process keeps, each used by one thread at a time (the TFLite Interpreter
# is not thread-safe): classify_tflite's concurrency. A process serving more threads (the
# local host, an upload function) has them wait for one, not make one each.
MAX_INTERPRETERS = 4


@dataclass
class _Interpreter:
    it: Any
    input: int
    output: int


class Classifier(Labels):
    """Classifies on a pool of at most `interpreters` TFLite interpreters; thread-safe."""

    def __init__(self, spec: ModelSpec, limits: Limits = DEFAULT_LIMITS,
                 threads_per_invoke: int = 1, interpreters: int = MAX_INTERPRETERS):  # fmt: skip
        self.spec = spec
        self.limits = limits
        self._threads = threads_per_invoke
        self._cls = interpreter_class()
        self._idle: queue.LifoQueue[_Interpreter] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._max, self.interpreters = interpreters, 0

    @property
    def model(self) -> str:
        return self.spec.name

    def _new(self) -> _Interpreter:
        it = self._cls(model_content=self.spec.content, num_threads=self._threads)
        it.allocate_tensors()
        return _Interpreter(it, it.get_input_details()[0]["index"],
                            it.get_output_details()[0]["index"])  # fmt: skip

    @contextmanager
    def _interpreter(self) -> Iterator[_Interpreter]:
        """An idle interpreter, a new one while fewer than the maximum exist, else the next
        one another thread gives back."""
        try:
            slot = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                make = self.interpreters < self._max
                self.interpreters += make
            if make:
                try:
                    slot = self._new()
                except BaseException:
                    with self._lock:
                        self.interpreters -= 1
                    raise
            else:
                slot = self._idle.get()
        try:
            yield slot
        finally:
            self._idle.put(slot)

    def scores(self, data: bytes) -> np.ndarray:
        """Probabilities for every label; RejectedImage for anything not a usable image."""
        rgb = np.asarray(decode(data, self.spec.input_size, self.limits), dtype=np.uint8)
        with self._interpreter() as slot:
            slot.it.set_tensor(slot.input, self.spec.to_input(rgb))
            slot.it.invoke()
            out = slot.it.get_tensor(slot.output)
        return self.spec.to_scores(out)

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
