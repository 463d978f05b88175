"""The importer: both file layouts, malformed rows, wrong files, re-imports."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from oie.cli import main
from oie.dataset.importer import ImportFailed, check_file, import_files
from oie.keys import image_id
from oie.warehouse.duckdb_adapter import DuckDBWarehouse
from tests.conftest import fresh_app


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def wh(tmp_path: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(tmp_path / "w.duckdb")


def test_course_files_load_whole(wh: DuckDBWarehouse, course_files: dict[str, Path]) -> None:
    reports = import_files(wh, course_files)
    assert [(r.table, r.rows, r.bad) for r in reports] == [
        ("classes", 601, 0),
        ("image_labels", 4386, 0),
        ("relations", 2768, 0),
    ]
    first = wh.query("SELECT * FROM classes WHERE Label = '/m/011k07'")
    assert first == [{"Label": "/m/011k07", "Description": "Tortoise"}]
    assert wh.query("SELECT count(*) AS n FROM classes WHERE Label = 'Label'") == [{"n": 0}]


def test_reimport_replaces(wh: DuckDBWarehouse, course_files: dict[str, Path]) -> None:
    import_files(wh, course_files)
    import_files(wh, course_files)
    assert wh.row_count("image_labels") == 4386
    assert wh.row_count("labels_by_label") == 4386
    assert wh.row_count("class_counts") == 601


def test_official_formats(wh: DuckDBWarehouse, tmp_path: Path, assets: Path) -> None:
    labels = write(
        tmp_path / "human.csv",
        "ImageID,Source,LabelName,Confidence\n"
        "000002b66c9c498e,verification,/m/01yrx,1\n"
        "000002b66c9c498e,verification,/m/0bt9lr,0\n"
        "000002B97E5471A0,crowdsource-verification,/m/0bt9lr,1\n",
    )
    rels = write(
        tmp_path / "vrd.csv",
        "ImageID,LabelName1,LabelName2,XMin1,XMax1,YMin1,YMax1,XMin2,XMax2,YMin2,YMax2,"
        "RelationshipLabel\n"
        "000002b66c9c498e,/m/01yrx,/m/0bt9lr,0.1,0.2,0.1,0.2,0.3,0.4,0.3,0.4,plays\n",
    )
    reports = import_files(
        wh,
        {
            "classes": assets / "openimages" / "oidv6-class-descriptions.csv",
            "image_labels": labels,
            "relations": rels,
        },
    )
    assert [(r.rows, r.skipped) for r in reports] == [(19994, 0), (2, 1), (1, 0)]
    rows = wh.query(
        """SELECT b.ImageKey, c.Label FROM labels_by_image AS b
           JOIN class_ids AS c USING (LabelId) ORDER BY b.ImageKey"""
    )
    got = [{"ImageId": image_id(r["ImageKey"]), "Label": r["Label"]} for r in rows]
    assert got == [
        {"ImageId": "000002b66c9c498e", "Label": "/m/01yrx"},
        {"ImageId": "000002b97e5471a0", "Label": "/m/0bt9lr"},
    ]
    assert wh.query("SELECT Relation, Label2 FROM relations") == [
        {"Relation": "plays", "Label2": "/m/0bt9lr"}
    ]


def test_malformed_rows_are_counted_and_shown(tmp_path: Path) -> None:
    rows = "".join(f"{i:016x},/m/01yrx\n" for i in range(40))
    path = write(
        tmp_path / "l.csv", "ImageId,Label\n" + rows + "nothex!!,/m/01yrx\n0000000000000001\n"
    )
    report = check_file("image_labels", path)
    assert (report.rows, report.bad) == (40, 2)
    assert report.bad_examples[0].startswith("line 42: ImageId 'nothex!!'")
    assert report.bad_examples[1] == "line 43: 1 columns, expected 2"
    assert "2 malformed rows left out" in report.summary()


@pytest.mark.parametrize(
    ("table", "text", "message"),
    [
        ("classes", "", "is empty"),
        ("classes", "ImageId,Label\n0041c772f8b9aef6,/m/01yrx\n", "is not a classes file"),
        ("relations", "Label,Description\n/m/01yrx,Cat\n", "is not a relations file"),
        ("image_labels", "ImageId,Label\nfoo,bar\nbaz,qux\n", "2 of 2 rows are malformed"),
        ("image_labels", "\x89PNG\r\n\x1a\n\x00\x00", "is not a image_labels file"),
    ],
)
def test_wrong_files_fail_and_change_nothing(
    wh: DuckDBWarehouse,
    course_files: dict[str, Path],
    tmp_path: Path,
    table: str,
    text: str,
    message: str,
) -> None:
    import_files(wh, course_files)
    before = {t: wh.row_count(t) for t in ("classes", "image_labels", "relations", "class_counts")}
    with pytest.raises(ImportFailed, match=message):
        import_files(wh, {table: write(tmp_path / "bad.csv", text)})
    after = {t: wh.row_count(t) for t in before}
    assert after == before


def test_partial_first_import_is_refused(
    wh: DuckDBWarehouse, course_files: dict[str, Path]
) -> None:
    with pytest.raises(ImportFailed, match="import image_labels, relations too"):
        import_files(wh, {"classes": course_files["classes"]})
    assert wh.row_count("classes") is None


def test_cli_import_and_status(
    tmp_path: Path, course_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv("OIE_DUCKDB_PATH", str(tmp_path / "cli.duckdb"))
    monkeypatch.setenv("OIE_DATA_DIR", str(tmp_path))
    fresh_app()
    runner = CliRunner()
    args = [
        "import",
        "--classes",
        str(course_files["classes"]),
        "--labels",
        str(course_files["image_labels"]),
        "--relations",
        str(course_files["relations"]),
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "image_labels: 4,386 rows" in result.output
    status = runner.invoke(main, ["status"])
    assert "labels_by_label      4,386" in status.output
    # the hierarchy was not imported: its table is there, empty, and so are its derived ones
    assert "class_hierarchy      0\n" in status.output
    assert "subtree_counts       " in status.output and "missing" not in status.output
    bad = runner.invoke(main, ["import", "--labels", str(course_files["classes"])])
    assert bad.exit_code == 1 and "is not a image_labels file" in bad.output
    assert "Traceback" not in bad.output
    none = runner.invoke(main, ["import"])
    assert none.exit_code == 2 and "--demo" in none.output
    fresh_app()
