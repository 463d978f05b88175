"""`oie automl-csv` on the course data, checked against the course CSVs read independently.

In the course data Man has 979 images, Table 603, Guitar 61 and Cat 19; 51 of the 61
Guitar images also carry Man, 207 Table images carry Man, and no image carries both Guitar
and Table.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from oie.cli import main
from oie.dataset import automl
from oie.dataset.automl import automl_label, parse_split, split_counts

ROW = re.compile(
    r"^(TRAIN|VALIDATION|TEST),gs://bdcc_open_images_dataset/images/([0-9a-f]{16})\.jpg,"
    r"([A-Za-z0-9_]+)$"
)


@pytest.fixture(scope="module")
def images_of(course_files: dict[str, Path]) -> dict[str, set[str]]:
    """Class name to its ImageIds, from the course CSVs with Python's csv module."""
    with course_files["classes"].open(newline="") as f:
        names = {r["Label"]: r["Description"] for r in csv.DictReader(f)}
    out: dict[str, set[str]] = defaultdict(set)
    with course_files["image_labels"].open(newline="") as f:
        for r in csv.DictReader(f):
            if r["Label"] in names:
                out[names[r["Label"]]].add(r["ImageId"].lower())
    return out


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["automl-csv", *args])


def parse(stdout: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in stdout.splitlines():
        match = ROW.match(line)
        assert match, line
        rows.append((match[1], match[2], match[3]))
    return rows


def classes_of(image: str, names: list[str], images_of: dict[str, set[str]]) -> list[str]:
    return [n for n in names if image in images_of[n]]


def test_data_as_the_tests_assume(images_of: dict[str, set[str]]) -> None:
    counts = {n: len(images_of[n]) for n in ("Man", "Table", "Guitar", "Cat")}
    assert counts == {"Man": 979, "Table": 603, "Guitar": 61, "Cat": 19}
    assert len(images_of["Guitar"] & images_of["Man"]) == 51
    assert len(images_of["Table"] & images_of["Man"]) == 207
    assert not images_of["Guitar"] & images_of["Table"]


def test_counts_splits_and_truth(demo_env: Path, images_of: dict[str, set[str]]) -> None:
    names = ["Man", "Guitar", "Table"]
    result = run("--classes", ",".join(names), "--per-class", "20", "--split", "80/10/10",
                 "--seed", "7")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = parse(result.stdout)
    assert len(rows) == 60
    assert Counter((s, c) for s, _, c in rows) == {
        (s, c): n for c in names for s, n in (("TRAIN", 16), ("VALIDATION", 2), ("TEST", 2))
    }
    # rows come class by class (as named), TRAIN, VALIDATION, TEST, by ImageId within a set
    assert [c for _, _, c in rows] == ["Man"] * 20 + ["Guitar"] * 20 + ["Table"] * 20
    ids = [i for _, i, _ in rows]
    assert len(set(ids)) == 60  # no image twice, so none in two sets
    for _, image, c in rows:
        assert image in images_of[c], (image, c)  # every image really carries its class

    # images carrying two of the classes are listed once; drawn rarest first (Guitar 61,
    # Table 603, Man 979), an image drawn for Guitar or Table that carries Man was kept out
    # of Man's pool: an overlap resolved (no image carries both Guitar and Table)
    shared = [i for i in ids if len(classes_of(i, names, images_of)) >= 2]
    assert shared and len(shared) == len(set(shared))
    resolved = sum(1 for _, i, c in rows if c != "Man" and i in images_of["Man"])
    assert resolved > 0
    assert f"overlaps resolved: {resolved} " in result.stderr
    assert f"{len(shared)} listed images carry two or more" in result.stderr
    assert "Man: 20 of 979 images: TRAIN 16, VALIDATION 2, TEST 2" in result.stderr


def test_overlap_rule_rare_class_keeps_its_images(
    demo_env: Path, images_of: dict[str, set[str]]
) -> None:
    """Guitar (61 images, 51 also Man) keeps all 61; Man draws 100 others."""
    result = run("--classes", "Man,Guitar", "--per-class", "100", "--seed", "1")
    assert result.exit_code == 0, result.output
    rows = parse(result.stdout)
    guitar = {i for _, i, c in rows if c == "Guitar"}
    man = {i for _, i, c in rows if c == "Man"}
    assert guitar == images_of["Guitar"]
    assert len(man) == 100 and not man & images_of["Guitar"]
    assert Counter(s for s, _, c in rows if c == "Guitar") == {
        "TRAIN": 49, "VALIDATION": 6, "TEST": 6,
    }  # fmt: skip
    assert Counter(s for s, _, c in rows if c == "Man") == {
        "TRAIN": 80, "VALIDATION": 10, "TEST": 10,
    }  # fmt: skip
    err = result.stderr
    assert "Guitar: 61 of 61 images: TRAIN 49, VALIDATION 6, TEST 6" in err
    assert "only 61 available (after 0 taken by rarer classes)" in err
    assert "overlaps resolved: 51 " in err
    assert "51 listed images carry two or more" in err


def test_fewer_than_per_class(demo_env: Path, images_of: dict[str, set[str]]) -> None:
    result = run("--classes", "Cat", "--per-class", "25", "--seed", "3")
    assert result.exit_code == 0, result.output
    rows = parse(result.stdout)
    assert {i for _, i, _ in rows} == images_of["Cat"]
    assert Counter(s for s, _, _ in rows) == {"TRAIN": 15, "VALIDATION": 2, "TEST": 2}
    assert "fewer than --per-class 25: using all" in result.stderr


def test_large_class_read_as_a_seeded_window(
    demo_env: Path, images_of: dict[str, set[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A class above MAX_POOL is read as MAX_POOL consecutive keys from a seeded start."""
    monkeypatch.setattr(automl, "MAX_POOL", 50)
    first = run("--classes", "Man", "--per-class", "20", "--seed", "5")
    again = run("--classes", "Man", "--per-class", "20", "--seed", "5")
    assert first.exit_code == 0, first.output
    assert first.stdout == again.stdout
    rows = parse(first.stdout)
    assert len({i for _, i, _ in rows}) == 20
    assert all(i in images_of["Man"] for _, i, _ in rows)
    assert "drawn from 50 consecutive ImageIds from a random start" in first.stderr


def test_seed_reproducible(demo_env: Path, tmp_path: Path) -> None:
    args = ["--classes", "Man,Guitar,Table", "--per-class", "20"]
    first = run(*args, "--seed", "7")
    again = run(*args, "--seed", "7")
    other = run(*args, "--seed", "8")
    assert first.exit_code == again.exit_code == other.exit_code == 0
    assert first.stdout == again.stdout
    assert first.stdout != other.stdout
    written = run(*args, "--seed", "7", "--output", str(tmp_path / "out.csv"))
    assert written.exit_code == 0 and written.stdout == ""
    assert (tmp_path / "out.csv").read_text() == first.stdout
    assert "wrote 60 rows" in written.stderr
    # the class's own draw does not depend on the order the classes are named
    swapped = run("--classes", "Table,Guitar,Man", "--per-class", "20", "--seed", "7")
    assert sorted(swapped.stdout.splitlines()) == sorted(first.stdout.splitlines())


def test_bucket_uri_and_labels(demo_env: Path) -> None:
    result = run("--classes", "Table tennis racket", "--per-class", "5", "--seed", "1",
                 "--bucket-uri", "gs://my-bucket/photos/")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert all(
        re.fullmatch(r"(TRAIN|VALIDATION|TEST),gs://my-bucket/photos/[0-9a-f]{16}\.jpg,"
                     r"Table_tennis_racket", line)
        for line in lines
    ), lines  # fmt: skip
    assert Counter(line.split(",")[0] for line in lines) == {"TRAIN": 3, "VALIDATION": 1,
                                                            "TEST": 1}  # fmt: skip


def test_unknown_class(demo_env: Path) -> None:
    result = run("--classes", "Man,Guitr", "--seed", "1")
    assert result.exit_code == 2
    assert "no class named 'Guitr'; did you mean Guitar?" in result.output
    assert result.stdout == ""  # no CSV written
    result = run("--classes", "Tennis", "--seed", "1")
    assert result.exit_code == 2
    assert "did you mean Tennis racket, Table tennis racket, Tennis ball?" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "80/10/5"], "sums to 95, not 100"),
        (["--split", "80/20"], "not TRAIN/VALIDATION/TEST percentages"),
        (["--split", "80/10/x"], "not TRAIN/VALIDATION/TEST percentages"),
        (["--per-class", "2"], "2 is not in the range x>=3"),
        (["--classes", "Man,man"], "named twice"),
        (["--classes", " , "], "name at least one class"),
    ],
)
def test_usage_errors(demo_env: Path, args: list[str], message: str) -> None:
    base = {"--classes": "Man", "--seed": "1"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    result = run(*[x for kv in base.items() for x in kv])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_helpers() -> None:
    assert parse_split("80/10/10") == (80, 10, 10)
    assert parse_split("100/0/0") == (100, 0, 0)
    for n, expected in [
        (20, (16, 2, 2)),
        (19, (15, 2, 2)),
        (25, (20, 3, 2)),
        (7, (5, 1, 1)),
        (5, (3, 1, 1)),
        (3, (1, 1, 1)),
        (2, (2, 0, 0)),
        (100, (80, 10, 10)),
    ]:
        assert split_counts(n, (80, 10, 10)) == expected, n  # fmt: skip
        assert sum(expected) == n
    assert split_counts(9, (100, 0, 0)) == (9, 0, 0)
    assert automl_label("Table tennis racket") == "Table_tennis_racket"
    assert automl_label("Man's hat (toy)") == "Man_s_hat_toy"


def test_labels_of_exactly_the_chosen_images(demo_env: Path, tmp_path: Path,
                                             course_files: dict[str, Path]) -> None:  # fmt: skip
    """--labels: every image-level label of the listed images, checked against the CSV."""
    out, labels = tmp_path / "automl.csv", tmp_path / "labels.csv"
    result = run("--classes", "Guitar,Cat", "--per-class", "10", "--seed", "3",
                 "--output", str(out), "--labels", str(labels))  # fmt: skip
    assert result.exit_code == 0, result.output
    chosen = {line.split(",")[1].rsplit("/", 1)[1].removesuffix(".jpg")
              for line in out.read_text().splitlines()}  # fmt: skip
    assert len(chosen) == 20
    with course_files["image_labels"].open(newline="") as f:
        want = sorted({(r["ImageId"].lower(), r["Label"]) for r in csv.DictReader(f)
                       if r["ImageId"].lower() in chosen})  # fmt: skip
    with labels.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["ImageId", "Label"]
    assert [tuple(r) for r in rows[1:]] == want  # all their labels, in ImageId order
    assert {r[0] for r in rows[1:]} == chosen
    assert f"wrote {len(want)} labels of 20 images" in result.output


def ids_of(automl_csv: str) -> list[str]:
    return [line.split(",")[1].rsplit("/", 1)[1].removesuffix(".jpg")
            for line in automl_csv.splitlines()]  # fmt: skip


def write_subsets(path: Path, rows: list[tuple[str, str]], header: str = "ImageID,Subset") -> Path:
    """A file laid out as Open Images' image files: ImageID, Subset, then other columns."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*header.split(","), "OriginalURL", "Rotation"])
        writer.writerows([i, s, f"https://farm.example/{i}.jpg", "0"] for i, s in rows)
    return path


DRAW = ("--classes", "Guitar,Cat,Table", "--per-class", "8", "--seed", "4")


def test_manifest_lists_the_draw_with_each_images_subset(demo_env: Path, tmp_path: Path) -> None:
    """--format manifest: the AutoML CSV's images, in its order, as SUBSET/ImageId lines,
    the subset read from an Open Images-style file (upper-case ids, other images in it)."""
    drawn = run(*DRAW)
    assert drawn.exit_code == 0, drawn.output
    images = ids_of(drawn.stdout)
    assert len(images) == 24
    where = {i: ("train", "validation", "test")[int(i, 16) % 3] for i in images}
    others = [(f"{n:016x}", "train") for n in range(50)]
    rows = [(i.upper(), s) for i, s in where.items()] + others
    subsets = write_subsets(tmp_path / "images.csv", rows)
    listed = run(*DRAW, "--format", "manifest", "--subsets", str(subsets))
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines() == [f"{where[i]}/{i}" for i in images]
    every = run(*DRAW, "--format", "manifest", "--subset", "validation", "--output",
                str(tmp_path / "ids.txt"))  # fmt: skip
    assert every.exit_code == 0, every.output
    assert (tmp_path / "ids.txt").read_text().splitlines() == [f"validation/{i}" for i in images]
    assert "wrote 24 lines" in every.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "manifest"], "needs the Open Images subset of each image"),
        (["--format", "manifest", "--subset", "train", "--subsets", "{file}"], "not both"),
        (["--subset", "train"], "go with --format manifest"),
        (["--format", "manifest", "--subset", "TRAIN"], "'TRAIN' is not one of"),
        (["--format", "manifest", "--subsets", "{dir}/none.csv"], "does not exist"),
    ],
)
def test_manifest_usage_errors(demo_env: Path, tmp_path: Path, args: list[str],
                               message: str) -> None:  # fmt: skip
    file = write_subsets(tmp_path / "s.csv", [])
    args = [a.format(file=file, dir=tmp_path) for a in args]
    result = run(*DRAW, *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("drop one", "1 of the 24 chosen images are not in"),
        ("bad subset", "is none of train, validation, test, challenge2018"),
        ("two subsets", "is in train and test"),
        ("no columns", "names no ImageID and Subset columns"),
    ],
)
def test_manifest_subsets_file_errors(demo_env: Path, tmp_path: Path, change: str,
                                      message: str) -> None:  # fmt: skip
    """A subsets file that cannot place every chosen image: exit 1, one reason, no output."""
    images = ids_of(run(*DRAW).stdout)
    rows = [(i, "train") for i in images]
    header = "ImageID,Subset"
    if change == "drop one":
        rows = rows[1:]
    elif change == "bad subset":
        rows[5] = (rows[5][0], "training")
    elif change == "two subsets":
        rows.append((images[3], "test"))
    else:
        header = "Id,Split"
    subsets = write_subsets(tmp_path / "s.csv", rows, header)
    out = tmp_path / "out.txt"
    result = run(*DRAW, "--format", "manifest", "--subsets", str(subsets), "--output", str(out))
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()
