"""The Open Images subset (train, validation, test) of chosen images, for a download manifest.

Open Images' `downloader.py` reads lines `SUBSET/ImageId` and fetches each photo from that
subset's folder; FiftyOne's `image_ids` takes the same lines. The subset is where Open
Images keeps an image, not a training split of ours, and the imported course data does not
record it: it comes from a CSV with `ImageID` and `Subset` columns (Open Images' image
files, e.g. `oidv6-train-images-with-labels-with-rotation.csv`, or the assets'
`photo-ids.csv`), or is stated for every image.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from .importer import Progress, lines_of

SUBSETS = ("train", "validation", "test", "challenge2018")  # the folders downloader.py knows
EXAMPLES = 3  # missing or bad ImageIds named in an error


class SubsetError(ValueError):
    """The subsets file cannot say where every chosen image is."""


def read_subsets(
    path: Path, wanted: Iterable[str], progress: Progress | None = None
) -> dict[str, str]:
    """The subset of each wanted ImageId, from a CSV with ImageID and Subset columns.

    Reads the whole file (Open Images' are millions of rows) keeping only the wanted ids;
    column names compare case-insensitively, ImageIds too. SubsetError when a column is
    missing, a wanted image has two subsets or one none of SUBSETS, or is not in the file.
    """
    want = {i.lower() for i in wanted}
    rows = csv.reader(lines_of(path, progress))
    header = [h.strip().lower() for h in next(rows, [])]
    if "imageid" not in header or "subset" not in header:
        raise SubsetError(f"{path}: the first row names no ImageID and Subset columns "
                          f"(it is {','.join(header)[:120]!r})")  # fmt: skip
    at_id, at_subset = header.index("imageid"), header.index("subset")
    found: dict[str, str] = {}
    for number, row in enumerate(rows, start=2):
        if len(row) <= max(at_id, at_subset):
            continue
        image = row[at_id].strip().lower()
        if image not in want:
            continue
        subset = row[at_subset].strip().lower()
        if subset not in SUBSETS:
            raise SubsetError(f"{path} line {number}: subset {row[at_subset]!r} of {image} is "
                              f"none of {', '.join(SUBSETS)}")  # fmt: skip
        if found.setdefault(image, subset) != subset:
            raise SubsetError(f"{path} line {number}: {image} is in {found[image]} and {subset}")
    missing = sorted(want - found.keys())
    if missing:
        raise SubsetError(f"{len(missing)} of the {len(want)} chosen images are not in {path} "
                          f"(e.g. {', '.join(missing[:EXAMPLES])}); nothing written")  # fmt: skip
    return found


def manifest(images: Sequence[str], subsets: dict[str, str] | str) -> list[str]:
    """`SUBSET/ImageId` lines, in the order given; `subsets` maps ids, or is one for all."""
    if isinstance(subsets, str):
        return [f"{subsets}/{i}" for i in images]
    return [f"{subsets[i.lower()]}/{i}" for i in images]
