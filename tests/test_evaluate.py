"""`oie evaluate`: AutoML-style precision, recall and confusion matrix on the real model.

The expected numbers were worked out by hand from what the default model
(mobilenet_v2_1.0_224_quant, deterministic) says of the course photos:

    parrot.jpg       macaw 1.00                                  true macaw          correct
    hot_dog.jpg      hotdog, hot dog, red hot 0.89               true Hot dog        correct
    cat_720p.jpg     Egyptian cat 0.82                           true Egyptian cat   correct
    bird.bmp         chickadee 0.99                              true chickadee      correct
    chelsea.png      Egyptian cat 0.82                           true tabby          -> Egyptian cat
    owl.jpg          ruffed grouse, partridge, ... 0.66          true great grey owl -> (other)
    pets.jpg         Italian greyhound 0.60                      true Boston bull    -> (other)
    face.jpg         marimba, xylophone 0.11 (< 0.5)             true lab coat       -> (none)
    notes.jpg        a text file                                 rejected
    missing.jpg      no such file                                rejected
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from oie.classify.classifier import Outcome, Prediction
from oie.classify.evaluate import (
    NONE,
    OTHER,
    EvaluationInputError,
    Example,
    matches,
    read_examples,
    score,
)
from oie.cli import main
from tests.conftest import fresh_app

CLASSES = [
    "Boston bull",
    "chickadee",
    "Egyptian cat",
    "great grey owl",
    "Hot dog",
    "lab coat",
    "macaw",
    "tabby",
]
COLUMNS = [*CLASSES, OTHER, NONE]
# rows: CLASSES; columns: COLUMNS
MATRIX = [
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 0],  # Boston bull -> (other): Italian greyhound
    [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],  # chickadee
    [0, 0, 1, 0, 0, 0, 0, 0, 0, 0],  # Egyptian cat
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 0],  # great grey owl -> (other): ruffed grouse
    [0, 0, 0, 0, 1, 0, 0, 0, 0, 0],  # Hot dog
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 1],  # lab coat -> (none)
    [0, 0, 0, 0, 0, 0, 1, 0, 0, 0],  # macaw (its other two files are rejected)
    [0, 0, 1, 0, 0, 0, 0, 0, 0, 0],  # tabby -> Egyptian cat
]
# class: (files, predicted as it, correct, precision, recall)
PER_CLASS = {
    "Boston bull": (1, 0, 0, None, 0.0),
    "chickadee": (1, 1, 1, 1.0, 1.0),
    "Egyptian cat": (1, 2, 1, 0.5, 1.0),
    "great grey owl": (1, 0, 0, None, 0.0),
    "Hot dog": (1, 1, 1, 1.0, 1.0),
    "lab coat": (1, 0, 0, None, 0.0),
    "macaw": (1, 1, 1, 1.0, 1.0),
    "tabby": (1, 0, 0, None, 0.0),
}

TEXT_HEAD = """\
model: mobilenet_v2_1.0_224_quant   threshold: 0.5
files: 10 listed, 8 evaluated, 2 rejected

class            files  precision  recall
Boston bull          1          -   0.000
chickadee            1      1.000   1.000
Egyptian cat         1      0.500   1.000
great grey owl       1          -   0.000
Hot dog              1      1.000   1.000
lab coat             1          -   0.000
macaw                1      1.000   1.000
tabby                1          -   0.000
overall (micro)      8      0.571   0.500
accuracy: 0.500 (4 of 8)

confusion matrix (rows: true class; columns: predicted)
                        [1]      [2]      [3]      [4]      [5]      [6]      [7]      [8]  (other)   (none)
[1] Boston bull           0        0        0        0        0        0        0        0        1        0
[2] chickadee             0        1        0        0        0        0        0        0        0        0
[3] Egyptian cat          0        0        1        0        0        0        0        0        0        0
[4] great grey owl        0        0        0        0        0        0        0        0        1        0
[5] Hot dog               0        0        0        0        1        0        0        0        0        0
[6] lab coat              0        0        0        0        0        0        0        0        0        1
[7] macaw                 0        0        0        0        0        0        1        0        0        0
[8] tabby                 0        0        1        0        0        0        0        0        0        0
"""  # noqa: E501


@pytest.fixture
def model_env(assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The default model from the assets folder."""
    monkeypatch.setenv("OIE_ASSETS", str(assets))
    monkeypatch.setenv("OIE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("OIE_MODEL", raising=False)
    monkeypatch.delenv("OIE_MODEL_LABELS", raising=False)
    fresh_app()
    yield assets
    fresh_app()


@pytest.fixture
def labels_csv(assets: Path, tmp_path: Path) -> Path:
    """Eight photos (absolute paths) and two bad files (relative to the CSV)."""
    photos = assets / "images"
    (tmp_path / "notes.jpg").write_text("not a photo\n")
    rows = [
        ("path", "label"),
        (photos / "parrot.jpg", "macaw"),
        (photos / "hot_dog.jpg", "Hot dog"),
        (photos / "cat_720p.jpg", "Egyptian cat"),
        (photos / "bird.bmp", "chickadee"),
        (photos / "chelsea.png", "tabby"),
        (photos / "owl.jpg", "great grey owl"),
        (photos / "pets.jpg", "Boston bull"),
        (photos / "face.jpg", "lab coat"),
        ("notes.jpg", "macaw"),
        ("missing.jpg", "MACAW"),
    ]
    path = tmp_path / "labels.csv"
    path.write_text("".join(f"{p},{label}\n" for p, label in rows))
    return path


def test_evaluate_text_report(model_env: Path, labels_csv: Path, tmp_path: Path) -> None:
    photos = model_env / "images"
    plot = tmp_path / "confusion.png"
    result = CliRunner().invoke(main, ["evaluate", str(labels_csv), "--plot", str(plot)])
    assert result.exit_code == 1, result.output  # files were rejected
    out = result.stdout
    assert out.startswith(TEXT_HEAD), out
    assert out[len(TEXT_HEAD) :] == (
        "\nmisses:\n"
        f"  {photos}/chelsea.png: tabby -> Egyptian cat (Egyptian cat 0.82)\n"
        f"  {photos}/owl.jpg: great grey owl -> (other) "
        "(ruffed grouse, partridge, Bonasa umbellus 0.66)\n"
        f"  {photos}/pets.jpg: Boston bull -> (other) (Italian greyhound 0.60)\n"
        f"  {photos}/face.jpg: lab coat -> (none) (marimba, xylophone 0.11)\n"
        "\nrejected (2):\n"
        "  notes.jpg: not an image Pillow can read\n"
        "  missing.jpg: cannot read: No such file or directory\n"
    )
    assert f"plot: {plot}" in result.stderr

    with Image.open(plot) as image:
        assert image.format == "PNG"
        assert 400 <= image.width <= 2000 and 400 <= image.height <= 2000, image.size
        image.load()
        colors = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colors is not None and len(colors) > 3  # text and shaded cells, not a blank


def test_evaluate_json_numbers(model_env: Path, labels_csv: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", str(labels_csv), "--output", "json"])
    assert result.exit_code == 1, result.output
    got = json.loads(result.stdout)
    assert got["model"] == "mobilenet_v2_1.0_224_quant"
    assert (got["files"], got["evaluated"], got["correct"]) == (10, 8, 4)
    assert got["precision"] == pytest.approx(4 / 7)  # 7 files predicted at >= 0.5
    assert got["recall"] == pytest.approx(4 / 8)
    assert got["accuracy"] == pytest.approx(4 / 8)
    assert got["confusion"]["rows"] == CLASSES
    assert got["confusion"]["columns"] == COLUMNS
    assert got["confusion"]["matrix"] == MATRIX
    per_class = {
        c["class"]: (c["files"], c["predicted"], c["correct"], c["precision"], c["recall"])
        for c in got["classes"]
    }
    assert per_class == PER_CLASS
    assert [r["file"] for r in got["rejected"]] == ["notes.jpg", "missing.jpg"]
    by_file = {Path(r["file"]).name: r for r in got["results"]}
    assert by_file["hot_dog.jpg"]["label"] == "hotdog, hot dog, red hot"
    assert by_file["hot_dog.jpg"]["predicted"] == "Hot dog"
    assert by_file["face.jpg"]["predicted"] == NONE
    assert by_file["missing.jpg"]["true"] == "macaw"  # MACAW is the class macaw

    # internal consistency: every evaluated file is in exactly one cell
    matrix = got["confusion"]["matrix"]
    assert sum(map(sum, matrix)) == got["evaluated"] == got["files"] - len(got["rejected"])
    assert sum(matrix[i][i] for i in range(len(CLASSES))) == got["correct"]
    for i, c in enumerate(got["classes"]):
        assert c["files"] == sum(matrix[i])
        assert c["predicted"] == sum(row[i] for row in matrix)
    predicted = sum(map(sum, matrix)) - sum(row[-1] for row in matrix)  # all but (none)
    assert got["precision"] == pytest.approx(got["correct"] / predicted)


def test_evaluate_threshold(model_env: Path, labels_csv: Path) -> None:
    """At 0.85 the cats (0.82) and the owl (0.66) and greyhound (0.60) fall to (none)."""
    result = CliRunner().invoke(
        main, ["evaluate", str(labels_csv), "--output", "json", "--threshold", "0.85"]
    )
    got = json.loads(result.stdout)
    none = {Path(r["file"]).name for r in got["results"] if r["predicted"] == NONE}
    assert none == {"cat_720p.jpg", "chelsea.png", "owl.jpg", "pets.jpg", "face.jpg"}
    assert (got["evaluated"], got["correct"]) == (8, 3)  # macaw, hot dog, chickadee
    assert got["precision"] == pytest.approx(1.0)  # 3 predictions, all right
    assert got["recall"] == pytest.approx(3 / 8)
    assert sum(map(sum, got["confusion"]["matrix"])) == 8


def test_evaluate_all_good_exits_0(model_env: Path, tmp_path: Path) -> None:
    photos = model_env / "images"
    path = tmp_path / "good.csv"
    path.write_text(f"{photos}/parrot.jpg,Macaw\n{photos}/hot_dog.jpg,red_hot\n")
    result = CliRunner().invoke(main, ["evaluate", str(path)])
    assert result.exit_code == 0, result.output
    assert "accuracy: 1.000 (2 of 2)" in result.stdout
    assert "0 rejected" in result.stdout and "rejected (" not in result.stdout


def test_evaluate_bad_csv(model_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a.jpg,cat\nb.jpg\n")
    result = CliRunner().invoke(main, ["evaluate", str(path)])
    assert result.exit_code == 1
    assert "line 2: expected 'path,label'" in result.output


# the rules, without the model


@pytest.mark.parametrize(
    ("true", "model", "expected"),
    [
        ("hotdog", "hotdog, hot dog, red hot", True),
        ("Hot Dog", "hotdog, hot dog, red hot", True),
        ("red_hot", "hotdog, hot dog, red hot", True),
        ("HOTDOG, HOT DOG, RED HOT", "hotdog, hot dog, red hot", True),
        ("hot", "hotdog, hot dog, red hot", False),
        ("dog", "hotdog, hot dog, red hot", False),
        ("Egyptian cat", "Egyptian cat", True),
        ("cat", "Egyptian cat", False),
        ("tabby", "tabby, tabby cat", True),
    ],
)
def test_label_matching(true: str, model: str, expected: bool) -> None:
    assert matches(true, model) is expected


def test_read_examples(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "l.csv"
    path.parent.mkdir()
    path.write_text("Path,Label\na.jpg,cat\n\n/abs/b.jpg, dog \n")
    got = read_examples(path)
    assert got == [
        Example("a.jpg", path.parent / "a.jpg", "cat"),
        Example("/abs/b.jpg", Path("/abs/b.jpg"), "dog"),
    ]
    path.write_text("a.jpg,(none)\n")
    with pytest.raises(EvaluationInputError, match="reserved"):
        read_examples(path)
    path.write_text("path,label\n")
    with pytest.raises(EvaluationInputError, match="no rows"):
        read_examples(path)


def test_score_rules() -> None:
    """Own class first; else the first true class matched; else (other); below: (none)."""
    labels = ["hot dog", "hotdog", "cat", "red hot", "cat", "cat"]
    examples = [Example(str(i), Path(f"{i}.jpg"), label) for i, label in enumerate(labels, 1)]
    hot = (Prediction("hotdog, hot dog, red hot", 0.9),)
    outcomes = [
        Outcome("1", hot),
        Outcome("2", hot),
        Outcome("3", hot),  # a cat seen as a hot dog: the first matching class, "hot dog"
        Outcome("4", (Prediction("hotdog, hot dog, red hot", 0.4),)),  # under the threshold
        Outcome("5", (Prediction("tiger cat", 0.8),)),  # "cat" is not a whole part
        Outcome("6", error="not an image Pillow can read"),
    ]
    ev = score("m", 0.5, examples, outcomes)
    assert ev.classes == ["cat", "hot dog", "hotdog", "red hot"]
    assert [f.predicted for f in ev.files] == ["hot dog", "hotdog", "hot dog", NONE, OTHER, None]
    assert ev.matrix == [
        [0, 1, 0, 0, 1, 0],  # cat: one as hot dog, one (other); one rejected
        [0, 1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 1],
    ]
    assert (ev.correct, ev.with_prediction, len(ev.evaluated)) == (2, 4, 5)


def test_the_example_labels_file(model_env: Path, assets: Path) -> None:
    """README's example: docs/examples/evaluate.csv over the assets' photos (--images)."""
    example = Path(__file__).resolve().parents[1] / "docs" / "examples" / "evaluate.csv"
    args = ["evaluate", str(example), "--images", str(assets / "images"), "--output", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["files"], report["evaluated"], report["correct"]) == (5, 5, 4)
    assert report["accuracy"] == 0.8  # the sunflower: ImageNet has no such class
    missing = CliRunner().invoke(main, ["evaluate", str(example), "--images", "/nowhere"])
    assert missing.exit_code == 2 and "'/nowhere' does not exist" in missing.output
