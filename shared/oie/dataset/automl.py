"""An AutoML Vision training CSV from the warehouse: N random images per class, split.

Each row is `SET,gs://BUCKET/images/<ImageId>.jpg,Label` (no header), SET being TRAIN,
VALIDATION or TEST, as AutoML Vision's single-label classification import reads it.

Sampling, reproducible from the seed: a class's image keys are read sorted from the
warehouse (one BigQuery statement, parameters only) and `random.Random(f"{seed}/{label}")`
samples them, so a class's draw depends on the seed, the class and (see overlaps) the
images rarer chosen classes took, not on the order the classes are named. A class with more
than MAX_POOL images is read as MAX_POOL consecutive keys from a seeded random start,
wrapping round: ImageIds are hashes, so consecutive keys are an unbiased sample, and memory
stays near MAX_POOL rows per class however common the class.

Overlaps, the known trap: an image carrying two chosen classes would be listed twice, with
two labels and possibly in two sets, leaking between TRAIN and TEST. Here an image belongs
to one class only: classes are drawn rarest first (fewest images, then name), and an image
already drawn for an earlier class is taken out of every later class's pool before that
class is drawn. Rare classes keep their images; a common class draws others instead, so it
still gets N images when it has them. No image appears twice.

Splits: each class's draw is cut TRAIN/VALIDATION/TEST by the largest-remainder rule
(floors, then the leftover images to the largest fractions, ties in set order), so the
counts sum to the draw: 20 at 80/10/10 is 16/2/2, 19 is 15/2/2, 25 is 20/3/2. Each set with
a share gets at least one image when the draw allows (5 is 3/1/1, 3 is 1/1/1). Within a
class the draw's random order decides which images go to which set; rows are written class
by class (in the order given), TRAIN, VALIDATION, TEST, and by ImageId within a set.
"""

from __future__ import annotations

import difflib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..catalog import Catalog, ClassInfo
from ..explore import MATCHED_LABELS
from ..keys import MAX_KEY, MIN_KEY, image_id, image_key
from ..warehouse import Warehouse, ints

SETS = ("TRAIN", "VALIDATION", "TEST")
DEFAULT_BUCKET_URI = "gs://bdcc_open_images_dataset/images"
MAX_POOL = 250_000  # keys read per class at most (a few tens of MB of rows, briefly)

CLASS_KEYS = """SELECT ImageKey FROM labels_by_label
WHERE LabelId = @label AND ImageKey BETWEEN @lo AND @hi ORDER BY ImageKey LIMIT @n"""


class UnknownClasses(LookupError):
    """Names that are no class, each with the classes it might have meant."""

    def __init__(self, suggestions: dict[str, list[ClassInfo]]):
        self.suggestions = suggestions
        super().__init__(", ".join(suggestions))

    def describe(self) -> str:
        parts = []
        for name, near in self.suggestions.items():
            hint = f"; did you mean {', '.join(c.description for c in near)}?" if near else ""
            parts.append(f"no class named {name!r}{hint}")
        return "\n".join(parts)


def parse_split(text: str) -> tuple[int, int, int]:
    """Parse TRAIN/VALIDATION/TEST percentages, "80/10/10": three integers summing to 100."""
    parts = text.replace(" ", "").split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not TRAIN/VALIDATION/TEST percentages like 80/10/10")
    a, b, c = (int(p) for p in parts)
    if a + b + c != 100:
        raise ValueError(f"{text!r} sums to {a + b + c}, not 100")
    return a, b, c


def split_counts(n: int, split: Sequence[int]) -> tuple[int, ...]:
    """n cut by percentages with the largest-remainder rule; the counts sum to n.

    When n is at least the number of sets with a share, each of them gets an image (one
    moved from the largest set): 5 at 80/10/10 is 3/1/1, not 4/1/0.
    """
    exact = [n * p / 100 for p in split]
    counts = [int(x) for x in exact]
    order = sorted(range(len(split)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    if n >= sum(1 for p in split if p > 0):
        for i, p in enumerate(split):
            if p > 0 and counts[i] == 0:
                donor = max(range(len(counts)), key=lambda j: (counts[j], -j))
                counts[donor] -= 1
                counts[i] += 1
    return tuple(counts)


def automl_label(description: str) -> str:
    """The class name as an AutoML label: letters and digits, other runs as one `_`.

    `oie.classify.model.read_labels` shows the underscores of an exported model as spaces.
    """
    return re.sub(r"[^A-Za-z0-9]+", "_", description).strip("_")


@dataclass
class ClassDraw:
    info: ClassInfo
    label: str  # the AutoML label written in the CSV
    available: int = 0  # images of the class left after taking out earlier classes'
    taken_earlier: int = 0  # images of the class already drawn for a rarer class
    chosen: list[str] = field(default_factory=list)  # ImageIds, in draw order
    counts: tuple[int, ...] = (0, 0, 0)
    capped: bool = False  # the class had more than MAX_POOL images: a window was read
    wanted: int = 0

    @property
    def short(self) -> bool:
        return len(self.chosen) < self.wanted


@dataclass
class Plan:
    draws: list[ClassDraw]  # in the order the classes were given
    rows: list[tuple[str, str, str]]  # (SET, URI, label)
    images: list[str]  # the rows' ImageIds, in their order
    shared: int = 0  # chosen images that carry two or more of the classes (listed once)

    @property
    def overlaps_resolved(self) -> int:
        return sum(d.taken_earlier for d in self.draws)


def suggest(catalog: Catalog, name: str, n: int = 5) -> list[ClassInfo]:
    """Classes whose name contains `name` (catalog.suggest), else the closest spellings."""
    found = catalog.suggest(name, n)
    if found:
        return found
    names = {c.description.lower(): c for c in catalog.with_images}
    close = difflib.get_close_matches(name.strip().lower(), list(names), n=n, cutoff=0.75)
    return [names[c] for c in close]


def resolve(catalog: Catalog, names: Sequence[str]) -> list[ClassInfo]:
    """Class names to classes; UnknownClasses for names that are none, ValueError for repeats."""
    found: list[ClassInfo] = []
    unknown: dict[str, list[ClassInfo]] = {}
    for name in names:
        info = catalog.find(name)
        if info is None:
            unknown[name] = suggest(catalog, name)
        elif info in found:
            raise ValueError(f"class {info.description!r} is named twice")
        else:
            found.append(info)
    if unknown:
        raise UnknownClasses(unknown)
    return found


def _keys(warehouse: Warehouse, label_id: int, lo: int, hi: int, n: int) -> list[int]:
    rows = warehouse.query(CLASS_KEYS, {"label": label_id, "lo": lo, "hi": hi, "n": n})
    return [int(r["ImageKey"]) for r in rows]


def class_pool(warehouse: Warehouse, info: ClassInfo, rng: random.Random) -> tuple[list[int], bool]:
    """The class's image keys, sorted; a seeded window of MAX_POOL when it has more."""
    if info.num_images <= MAX_POOL:
        keys = _keys(warehouse, info.label_id, MIN_KEY, MAX_KEY, MAX_POOL + 1)
        if len(keys) <= MAX_POOL:
            return keys, False
    start = rng.randint(MIN_KEY, MAX_KEY)
    keys = _keys(warehouse, info.label_id, start, MAX_KEY, MAX_POOL)
    if len(keys) < MAX_POOL and start > MIN_KEY:
        keys += _keys(warehouse, info.label_id, MIN_KEY, start - 1, MAX_POOL - len(keys))
    return sorted(keys), True


def plan(
    warehouse: Warehouse,
    classes: Sequence[ClassInfo],
    per_class: int,
    split: Sequence[int],
    seed: int,
    bucket_uri: str = DEFAULT_BUCKET_URI,
    progress: Callable[[int], None] | None = None,
) -> Plan:
    """Draw `per_class` images per class (all it has when fewer), one class per image.

    See the module's docstring for the sampling, the overlap rule and the split. `progress`
    is told of each class drawn.
    """
    labels = [automl_label(c.description) for c in classes]
    for i, label in enumerate(labels):
        if not label:
            raise ValueError(f"class {classes[i].description!r} gives an empty AutoML label")
        if label in labels[:i]:
            raise ValueError(
                f"classes {classes[labels.index(label)].description!r} and "
                f"{classes[i].description!r} give one AutoML label {label!r}"
            )
    draws = [
        ClassDraw(c, label, wanted=per_class) for c, label in zip(classes, labels, strict=True)
    ]
    taken: set[int] = set()
    for draw in sorted(draws, key=lambda d: (d.info.num_images, d.info.description, d.info.label)):
        rng = random.Random(f"{seed}/{draw.info.label}")
        pool, draw.capped = class_pool(warehouse, draw.info, rng)
        free = [k for k in pool if k not in taken]
        draw.taken_earlier = len(pool) - len(free)
        draw.available = len(free)
        keys = rng.sample(free, min(per_class, len(free)))
        taken.update(keys)
        draw.chosen = [image_id(k) for k in keys]
        draw.counts = split_counts(len(keys), split)
        if progress:
            progress(1)
    base = bucket_uri.rstrip("/")
    rows: list[tuple[str, str, str]] = []
    images: list[str] = []
    for draw in draws:
        start = 0
        for name, count in zip(SETS, draw.counts, strict=True):
            part = sorted(draw.chosen[start : start + count])
            rows += [(name, f"{base}/{i}.jpg", draw.label) for i in part]
            images += part
            start += count
    return Plan(draws, rows, images, shared=_shared(warehouse, classes, taken))


def _shared(warehouse: Warehouse, classes: Sequence[ClassInfo], keys: set[int]) -> int:
    """How many of the chosen images carry two or more of the classes."""
    if not keys or len(classes) < 2:
        return 0
    rows = warehouse.query(
        MATCHED_LABELS, {"keys": ints(sorted(keys)), "labels": ints(c.label_id for c in classes)}
    )
    per_image: dict[int, int] = {}
    for r in rows:
        per_image[r["ImageKey"]] = per_image.get(r["ImageKey"], 0) + 1
    return sum(1 for n in per_image.values() if n >= 2)


# Every label of some images: their image-level labels, whatever the classes drawn.
IMAGE_LABELS = """SELECT ImageKey, LabelId FROM labels_by_image WHERE ImageKey IN UNNEST(@keys)
ORDER BY ImageKey, LabelId"""


def image_labels(warehouse: Warehouse, catalog: Catalog, made: Plan) -> list[tuple[str, str]]:
    """(ImageId, Label) of every image-level label of exactly the images `made` lists, in
    ImageId order: the course's image-labels.csv rows, which `oie import` reads back."""
    keys = sorted(image_key(i) for d in made.draws for i in d.chosen)
    if not keys:
        return []
    rows = warehouse.query(IMAGE_LABELS, {"keys": ints(keys)})
    return [(image_id(r["ImageKey"]), catalog.by_id[r["LabelId"]].label) for r in rows]


def report(made: Plan, per_class: int) -> list[str]:
    """What a run says on standard error: each class's draw, then the overlaps."""
    lines = []
    for d in made.draws:
        counts = ", ".join(f"{s} {n}" for s, n in zip(SETS, d.counts, strict=True))
        named = d.info.description + ("" if d.label == d.info.description else f" ({d.label})")
        lines.append(f"{named}: {len(d.chosen)} of {d.info.num_images:,} images: {counts}")
        if d.capped:
            lines.append(f"  drawn from {MAX_POOL:,} consecutive ImageIds from a random start "
                         "(the class is larger)")  # fmt: skip
        if d.short:
            lines.append(
                f"  only {d.available} available (after {d.taken_earlier} taken "
                f"by rarer classes), fewer than --per-class {per_class}: using all"
            )
    lines.append(f"overlaps resolved: {made.overlaps_resolved} (images drawn for a rarer class, "
                 f"kept out of a commoner class's pool); {made.shared} listed images carry two "
                 "or more of the classes and are listed once")  # fmt: skip
    return lines


@dataclass
class Export:
    """One `oie automl-csv` run's output: the CSV rows and their ImageIds, its report, the
    labels (if asked)."""

    rows: list[list[str]]
    images: list[str]
    report: list[str]
    labels: list[list[str]] | None = None


def export(warehouse: Warehouse, catalog: Catalog, names: Sequence[str], per_class: int,
           split: Sequence[int], seed: int, bucket_uri: str, labels: bool,
           progress: Callable[[int], None] | None = None) -> Export:  # fmt: skip
    """Resolve, draw, report; raises UnknownClasses or ValueError for bad input."""
    made = plan(warehouse, resolve(catalog, names), per_class, split, seed, bucket_uri, progress)
    found = [list(r) for r in image_labels(warehouse, catalog, made)] if labels else None
    return Export([list(r) for r in made.rows], made.images, report(made, per_class), found)
