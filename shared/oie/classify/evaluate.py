"""Evaluate a model on labelled files, as AutoML's evaluation page does.

Input: a CSV of `path,label` rows (an optional first row `path,label` is a header). A
relative path is relative to the CSV's folder. Each file's predicted class is the model's
top-1 label when its score is at least the threshold, else "(none)".

Label matching: a true label and a model label are compared case-insensitively, with
underscores read as spaces and runs of spaces as one (AutoML's labels use underscores;
`oie.classify.model.read_labels` shows them as spaces). A model label may be a comma list
of synonyms, like ImageNet's "hotdog, hot dog, red hot": a true label matches it when it
equals the whole label or any one comma-separated part, so "hotdog", "Hot dog" and
"red hot" all match, while "hot" does not. A prediction that matches the file's own true
label is correct; otherwise it counts for the first true class (in the report's order) it
matches, and when it matches none it is "(other)".

Metrics, over the files the model could read (rejected files are counted and listed apart):
per true class, precision = correct / files predicted as the class and recall = correct /
files of the class; overall (micro) precision = correct / files with a prediction at the
threshold ("(other)" predictions count as wrong, "(none)" as no prediction), recall =
correct / files, and accuracy = correct / files (in single-label evaluation micro recall
and accuracy are the same number).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OIEError
from .labels import Outcome

if TYPE_CHECKING:
    from .classifier import Classifier

NONE = "(none)"
OTHER = "(other)"
RESERVED = {NONE, OTHER}


class EvaluationInputError(OIEError, ValueError):
    """A labels CSV that cannot be evaluated; the message says where and why."""

    status = 400


@dataclass(frozen=True)
class Example:
    """One CSV row: the path as written, the file it names, and its true label."""

    name: str
    path: Path
    label: str


def normalize(label: str) -> str:
    """The form labels are compared in: case-folded, `_` as space, spaces collapsed."""
    return " ".join(label.replace("_", " ").split()).casefold()


def label_forms(model_label: str) -> set[str]:
    """The texts a true label may equal to match `model_label`: the whole, or one part."""
    return {normalize(model_label)} | {normalize(p) for p in model_label.split(",") if p.strip()}


def matches(true_label: str, model_label: str) -> bool:
    """True when `true_label` names `model_label` (see the module's docstring)."""
    return normalize(true_label) in label_forms(model_label)


def read_examples(csv_path: Path, images: Path | None = None) -> list[Example]:
    """The rows of a `path,label` CSV; blank lines skipped, anything else malformed refused.
    A relative path is relative to `images`, else to the CSV's folder."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationInputError(f"{csv_path}: cannot read: {exc}") from exc
    base = images if images is not None else csv_path.parent
    out: list[Example] = []
    for number, row in enumerate(csv.reader(text.splitlines()), 1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if number == 1 and [c.lower() for c in cells] == ["path", "label"]:
            continue
        if len(cells) != 2 or not cells[0] or not cells[1]:
            raise EvaluationInputError(
                f"{csv_path}, line {number}: expected 'path,label', found {row!r}"
            )
        name, label = cells
        if label in RESERVED:
            raise EvaluationInputError(f"{csv_path}, line {number}: {label} is reserved")
        path = Path(name).expanduser()
        out.append(Example(name, path if path.is_absolute() else base / path, label))
    if not out:
        raise EvaluationInputError(f"{csv_path}: no rows")
    return out


@dataclass(frozen=True)
class FileResult:
    """One file: its true class, the model's top-1 label and score, and where it counts."""

    name: str
    true: str  # the true class as the report names it
    label: str | None = None  # the model's top-1 label
    score: float | None = None
    predicted: str | None = None  # a true class, OTHER or NONE; None when rejected
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def correct(self) -> bool:
        return self.ok and self.predicted == self.true


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    files: int  # files of the class the model read
    predicted: int  # files predicted as the class
    correct: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.files if self.files else None


@dataclass
class Evaluation:
    model: str
    threshold: float
    classes: list[str]  # true classes, sorted case-insensitively
    files: list[FileResult]
    matrix: list[list[int]] = field(default_factory=list)  # rows: classes; columns: columns

    @property
    def columns(self) -> list[str]:
        return [*self.classes, OTHER, NONE]

    @property
    def evaluated(self) -> list[FileResult]:
        return [f for f in self.files if f.ok]

    @property
    def rejected(self) -> list[FileResult]:
        return [f for f in self.files if not f.ok]

    @property
    def correct(self) -> int:
        return sum(f.correct for f in self.files)

    @property
    def with_prediction(self) -> int:
        return sum(1 for f in self.evaluated if f.predicted != NONE)

    def per_class(self) -> list[ClassMetrics]:
        out = []
        for i, name in enumerate(self.classes):
            column = sum(row[i] for row in self.matrix)
            out.append(ClassMetrics(name, sum(self.matrix[i]), column, self.matrix[i][i]))
        return out

    @property
    def precision(self) -> float | None:
        return self.correct / self.with_prediction if self.with_prediction else None

    @property
    def recall(self) -> float | None:
        return self.correct / len(self.evaluated) if self.evaluated else None

    @property
    def accuracy(self) -> float | None:
        return self.recall


def _class_names(examples: Sequence[Example]) -> dict[str, str]:
    """Normalized label to the name the report uses: its first spelling in the CSV."""
    names: dict[str, str] = {}
    for e in examples:
        names.setdefault(normalize(e.label), e.label)
    return names


def score(
    model: str, threshold: float, examples: Sequence[Example], outcomes: Iterable[Outcome]
) -> Evaluation:
    """The evaluation of outcomes (top-1 predictions, in the examples' order)."""
    names = _class_names(examples)
    classes = sorted(names.values(), key=lambda n: (n.casefold(), n))
    forms = [(normalize(c), c) for c in classes]
    files: list[FileResult] = []
    for example, outcome in zip(examples, outcomes, strict=True):
        true = names[normalize(example.label)]
        if not outcome.ok:
            files.append(FileResult(example.name, true, error=outcome.error))
            continue
        if not outcome.predictions:  # cannot happen with min_confidence 0, but be exact
            files.append(FileResult(example.name, true, predicted=NONE))
            continue
        top = outcome.predictions[0]
        if top.score < threshold:
            predicted = NONE
        else:
            hits = label_forms(top.label)
            if normalize(true) in hits:
                predicted = true
            else:
                predicted = next((c for norm, c in forms if norm in hits), OTHER)
        files.append(FileResult(example.name, true, top.label, top.score, predicted))
    evaluation = Evaluation(model, threshold, classes, files)
    index = {c: i for i, c in enumerate(evaluation.columns)}
    evaluation.matrix = [[0] * len(index) for _ in classes]
    for f in evaluation.evaluated:
        assert f.predicted is not None
        evaluation.matrix[index[f.true]][index[f.predicted]] += 1
    return evaluation


def evaluate(
    classifier: Classifier,
    examples: Sequence[Example],
    threshold: float = 0.5,
    workers: int = 1,
    progress: Any = None,
) -> Evaluation:
    """Classify every example's file (top-1) on `workers` threads and score the answers.

    `progress`, if given, wraps the outcome iterator (e.g. a tqdm factory taking `total`).
    """
    items = [(e.name, e.path.read_bytes) for e in examples]
    outcomes: Iterable[Outcome] = classifier.classify_many(items, 0.0, 1, workers)
    if progress is not None:
        outcomes = progress(outcomes, total=len(items))
    return score(classifier.model, threshold, examples, list(outcomes))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render_text(ev: Evaluation) -> str:
    """The report: metrics per class and overall, the confusion matrix, misses, rejections."""
    n = len(ev.evaluated)
    lines = [
        f"model: {ev.model}   threshold: {ev.threshold:g}",
        f"files: {len(ev.files)} listed, {n} evaluated, {len(ev.rejected)} rejected",
        "",
    ]
    width = max([len(c) for c in ev.classes] + [len("overall (micro)")])
    lines.append(f"{'class':<{width}}  {'files':>5}  {'precision':>9}  {'recall':>6}")
    for m in ev.per_class():
        lines.append(
            f"{m.name:<{width}}  {m.files:>5}  {_fmt(m.precision):>9}  {_fmt(m.recall):>6}"
        )
    lines.append(
        f"{'overall (micro)':<{width}}  {n:>5}  {_fmt(ev.precision):>9}  {_fmt(ev.recall):>6}"
    )
    lines.append(f"accuracy: {_fmt(ev.accuracy)} ({ev.correct} of {n})")
    lines += ["", "confusion matrix (rows: true class; columns: predicted)"]
    keys = [f"[{i}]" for i in range(1, len(ev.classes) + 1)]
    heads = [*keys, OTHER, NONE]
    cell = max(len(h) for h in heads)
    row_names = [f"{k} {c}" for k, c in zip(keys, ev.classes, strict=True)]
    first = max(len(r) for r in row_names)
    lines.append(" " * first + "".join(f"  {h:>{cell}}" for h in heads))
    for name, row in zip(row_names, ev.matrix, strict=True):
        lines.append(f"{name:<{first}}" + "".join(f"  {v:>{cell}}" for v in row))
    misses = [f for f in ev.evaluated if not f.correct]
    if misses:
        lines += ["", "misses:"]
        for f in misses:
            said = f"{f.label} {f.score:.2f}" if f.label is not None else "nothing"
            lines.append(f"  {f.name}: {f.true} -> {f.predicted} ({said})")
    if ev.rejected:
        lines += ["", f"rejected ({len(ev.rejected)}):"]
        lines += [f"  {f.name}: {f.error}" for f in ev.rejected]
    return "\n".join(lines)


def to_json(ev: Evaluation) -> dict[str, Any]:
    return {
        "model": ev.model,
        "threshold": ev.threshold,
        "files": len(ev.files),
        "evaluated": len(ev.evaluated),
        "correct": ev.correct,
        "precision": ev.precision,
        "recall": ev.recall,
        "accuracy": ev.accuracy,
        "classes": [
            {
                "class": m.name,
                "files": m.files,
                "predicted": m.predicted,
                "correct": m.correct,
                "precision": m.precision,
                "recall": m.recall,
            }
            for m in ev.per_class()
        ],
        "confusion": {"rows": ev.classes, "columns": ev.columns, "matrix": ev.matrix},
        "results": [
            {
                "file": f.name,
                "true": f.true,
                "label": f.label,
                "score": f.score,
                "predicted": f.predicted,
                "error": f.error,
            }
            for f in ev.files
        ],
        "rejected": [{"file": f.name, "error": f.error} for f in ev.rejected],
    }


def plot(ev: Evaluation, path: Path) -> None:
    """The confusion matrix as a heat-map PNG: each cell's shade is its share of its row.

    Counts are written in the cells; rows are true classes, columns predictions.
    """
    from PIL import Image, ImageDraw, ImageFont

    font: Any
    try:
        font = ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1: the small bitmap font
        font = ImageFont.load_default()

    def size(text: str) -> tuple[int, int]:
        left, top, right, bottom = font.getbbox(text)
        return int(right - left), int(bottom - top)

    def short(text: str, limit: int = 32) -> str:
        return text if len(text) <= limit else text[: limit - 3] + "..."

    rows = [short(c) for c in ev.classes]
    cols = [short(c) for c in ev.columns]
    pad = 10
    line = max(size("Ag")[1], 10) + 4
    cell = max(48, *(size(str(v))[0] + 2 * pad for row in ev.matrix for v in row))
    left = max([size(r)[0] for r in rows] + [size("true class")[0]]) + 2 * pad
    top_text = max(size(c)[0] for c in cols) + 2 * pad  # column names, turned upright
    title_h = 2 * line + pad
    top = title_h + top_text
    title = f"Confusion matrix: {ev.model}, threshold {ev.threshold:g}"
    note = "rows: true class (shade: share of the row); columns: predicted class"
    width = max(left + cell * len(cols), size(title)[0] + pad, size(note)[0] + pad) + pad
    height = top + cell * len(rows) + line + 2 * pad
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((pad, pad), title, fill="black", font=font)
    draw.text((left, pad + line), "predicted", fill="dimgray", font=font)
    draw.text((pad, top - line - pad // 2), "true class", fill="dimgray", font=font)
    for j, name in enumerate(cols):
        w, h = size(name)
        label = Image.new("RGB", (w + 4, h + 6), "white")
        ImageDraw.Draw(label).text((2, 0), name, fill="black", font=font)
        turned = label.rotate(90, expand=True)
        x = left + j * cell + (cell - turned.width) // 2
        image.paste(turned, (x, top - pad - turned.height))
    for i, (name, row) in enumerate(zip(rows, ev.matrix, strict=True)):
        y = top + i * cell
        _, h = size(name)
        draw.text((pad, y + (cell - h) // 2), name, fill="black", font=font)
        total = sum(row)
        for j, value in enumerate(row):
            share = value / total if total else 0.0
            # white to full colour with the row's share: the diagonal blue, errors red
            base = (33, 102, 172) if j == i else (214, 96, 77)
            color = tuple(round(255 - (255 - b) * share) for b in base)
            x = left + j * cell
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=color, outline="gray")
            text = str(value)
            w, h = size(text)
            ink = "white" if share > 0.55 else "black"
            draw.text((x + (cell - w) // 2, y + (cell - h) // 2 - 2), text, fill=ink, font=font)
    draw.text((pad, top + cell * len(rows) + pad), note, fill="dimgray", font=font)
    image.save(path, format="PNG")
