"""Classification with the real model on real photos, and every kind of bad input."""

from __future__ import annotations

import csv
import io
import struct
import zlib
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from click.testing import CliRunner
from PIL import Image
from werkzeug.test import Client

from oie.app import current
from oie.classify.classifier import Classifier
from oie.classify.images import RejectedImage, decode
from oie.classify.model import ModelError, ModelSpec, load_spec
from oie.cli import main
from tests.conftest import fresh_app
from tests.support.servers import serving_folder

MODEL = "models/mobilenet_v2_1.0_224_quant.tflite"


@pytest.fixture(scope="module")
def classifier(assets: Path) -> Classifier:
    return Classifier(load_spec(assets / MODEL))


@pytest.fixture
def photos(assets: Path) -> Path:
    return assets / "images"


def png_bytes(image: Image.Image, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **params)
    return out.getvalue()


def jpeg_bytes(image: Image.Image, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, **params)
    return out.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares 10 gigapixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("photo", "expected"),
    [("cat_720p.jpg", "Egyptian cat"), ("parrot.jpg", "macaw"), ("hot_dog.jpg", "hotdog"),
     ("chelsea.png", "cat"), ("grace_hopper.bmp", "military uniform")],
)  # fmt: skip
def test_real_photos(classifier: Classifier, photos: Path, photo: str, expected: str) -> None:
    top = classifier.classify((photos / photo).read_bytes(), min_confidence=0.0, top_k=5)
    assert expected.lower() in top[0].label.lower()
    assert top[0].score > 0.5
    assert [p.score for p in top] == sorted((p.score for p in top), reverse=True)


def test_scores_are_dequantized_with_the_tensor_scale(classifier: Classifier, photos: Path) -> None:
    scores = classifier.scores((photos / "parrot.jpg").read_bytes())
    assert scores.shape == (1001,)
    assert 0.99 <= float(scores.sum()) <= 1.01  # scale 1/256 (the seed's 1/255 would not sum to 1)
    assert (scores * 256 - (scores * 256).round()).max() < 1e-4


def test_min_confidence_cuts_and_top_k_limits(classifier: Classifier, photos: Path) -> None:
    data = (photos / "pets.jpg").read_bytes()
    every = classifier.classify(data, min_confidence=0.0)
    assert len(every) == 1001
    some = classifier.classify(data, min_confidence=0.3)
    assert some and all(p.score >= 0.3 for p in some)
    assert some == every[: len(some)]
    assert len(classifier.classify(data, 0.0, top_k=3)) == 3


def test_concurrent_answers_equal_sequential(classifier: Classifier, photos: Path) -> None:
    items = [(p.name, p.read_bytes) for p in sorted(photos.iterdir())] * 3
    sequential = list(classifier.classify_many(items, 0.05, workers=1))
    parallel = list(classifier.classify_many(items, 0.05, workers=4))
    assert parallel == sequential
    assert all(o.ok for o in parallel)


def test_many_threads_share_a_few_interpreters(assets: Path, photos: Path) -> None:
    """The local host serves 40 threads; each TFLite interpreter costs memory, so threads
    beyond the pool's size wait for one instead of making their own."""
    classifier = Classifier(load_spec(assets / MODEL), interpreters=3)
    items = [(p.name, p.read_bytes) for p in sorted(photos.iterdir())] * 4
    sequential = list(classifier.classify_many(items, 0.05, workers=1))
    parallel = list(classifier.classify_many(items, 0.05, workers=16))
    assert parallel == sequential and classifier.interpreters == 3


def test_exif_orientation_is_applied(classifier: Classifier, photos: Path) -> None:
    upright = Image.open(photos / "cat_720p.jpg").convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a camera held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    rotated = png_bytes(stored, exif=exif.tobytes())
    want = classifier.scores(png_bytes(upright))
    assert (classifier.scores(rotated) == want).all()
    assert not (classifier.scores(png_bytes(stored)) == want).all()


@pytest.mark.parametrize("mode", ["L", "RGBA", "LA", "P", "CMYK", "I;16"])
def test_any_mode_becomes_rgb(mode: str, photos: Path) -> None:
    image = Image.open(photos / "cat_720p.jpg").convert("RGB")
    if mode == "I;16":
        converted = Image.fromarray(
            __import__("numpy").asarray(image.convert("L"), dtype="uint16") * 256
        )
    else:
        converted = image.convert(mode)
    data = jpeg_bytes(converted) if mode in ("L", "CMYK") else png_bytes(converted)
    out = decode(data, (224, 224))
    assert out.mode == "RGB" and out.size == (224, 224)


def test_large_jpeg_is_decoded_in_draft_mode(photos: Path) -> None:
    big = Image.open(photos / "cat_720p.jpg").convert("RGB").resize((4000, 3000))
    out = decode(jpeg_bytes(big), (224, 224))
    assert out.size == (224, 224)


BAD = {
    "text.jpg": (b"this is not an image\n", "not an image"),
    "empty.jpg": (b"", "empty file"),
    "bomb.png": (png_bomb(), "pixels; the limit is"),
    "tiny.png": (png_bytes(Image.new("RGB", (1, 1))), "too small"),
}


def bad_files(photos: Path) -> dict[str, tuple[bytes, str]]:
    cat = (photos / "cat_720p.jpg").read_bytes()
    return {**BAD, "truncated.jpg": (cat[: len(cat) // 2], "cannot decode")}


def test_bad_input_is_rejected_with_a_reason(classifier: Classifier, photos: Path) -> None:
    for name, (data, reason) in bad_files(photos).items():
        with pytest.raises(RejectedImage, match=reason):
            classifier.classify(data)
        outcome = classifier.outcome(name, data)
        assert not outcome.ok and reason in outcome.error, name


@pytest.fixture
def upload_client(
    demo_env: Path, host_app, assets: Path, monkeypatch: pytest.MonkeyPatch
) -> Client:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OIE_ASSETS", str(assets))
    fresh_app()
    return Client(host_app)


def post(client: Client, files: list[tuple[bytes, str]], **form: str):  # type: ignore[no-untyped-def]
    data = {"files": [(io.BytesIO(b), name) for b, name in files], **form}
    return client.post("/image_classify?format=json", data=data)


def test_upload_mixed_batch(upload_client: Client, photos: Path, demo_env: Path) -> None:
    good = [("parrot.jpg", "macaw"), ("hot_dog.jpg", "hotdog"), ("chelsea.png", "cat")]
    files = [((photos / n).read_bytes(), n) for n, _ in good]
    files += [(data, name) for name, (data, _r) in bad_files(photos).items()]
    big = png_bytes(Image.new("RGB", (64, 64))) + b"\0" * (21 * 1024 * 1024)
    files.append((big, "huge.png"))
    response = post(upload_client, files, min_confidence="0.3")
    assert response.status_code == 200
    answers = {f["name"]: f for f in response.get_json()["files"]}
    assert len(answers) == len(files)
    for name, expected in good:
        assert answers[name]["ok"], answers[name]
        assert expected in answers[name]["predictions"][0]["label"]
        assert all(p["score"] >= 0.3 for p in answers[name]["predictions"])
    for name, (_data, reason) in bad_files(photos).items():
        assert not answers[name]["ok"] and reason in answers[name]["error"]
    assert "limit is 20,971,520" in answers["huge.png"]["error"]
    # stored content-addressed, original name as metadata; rejected files are not stored
    store = current().blobstore
    stored = {o.name: o for o in store.list("uploads/")}
    assert len(stored) == len(good)
    parrot = answers["parrot.jpg"]["stored"].removeprefix(f"gs://{store.bucket}/")
    assert stored[parrot].metadata["originalName"] == "parrot.jpg"
    assert store.get(parrot) == (photos / "parrot.jpg").read_bytes()


def test_same_photo_twice_is_stored_once(upload_client: Client, photos: Path) -> None:
    data = (photos / "owl.jpg").read_bytes()
    first = post(upload_client, [(data, "a.jpg")]).get_json()["files"][0]["stored"]
    second = post(upload_client, [(data, "b.jpg")]).get_json()["files"][0]["stored"]
    assert first == second
    assert len(list(current().blobstore.list("uploads/"))) == 1


def test_too_many_files(upload_client: Client, photos: Path) -> None:
    data = (photos / "owl.jpg").read_bytes()
    response = post(upload_client, [(data, f"{i}.jpg") for i in range(50)])
    assert response.status_code == 413
    assert "at most 32" in response.get_json()["error"]
    assert list(current().blobstore.list()) == []


@pytest.mark.parametrize(
    ("form", "param"),
    [({"min_confidence": "2"}, "min_confidence"), ({"min_confidence": "x"}, "min_confidence"),
     ({"top_k": "0.5"}, "top_k"), ({}, "files")],
)  # fmt: skip
def test_bad_parameters(upload_client: Client, photos: Path, form: dict, param: str) -> None:
    files = [] if param == "files" else [((photos / "owl.jpg").read_bytes(), "owl.jpg")]
    response = post(upload_client, files, **form)
    assert response.status_code == 400
    assert response.get_json()["param"] == param


def test_upload_page_html(upload_client: Client, photos: Path) -> None:
    form = upload_client.get("/image_classify")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.get_data(True)
    data = {"files": [(io.BytesIO((photos / "parrot.jpg").read_bytes()), "parrot.jpg")]}
    html = upload_client.post("/image_classify", data=data).get_data(as_text=True)
    assert "macaw" in html and 'src="data:image/jpeg;base64,' in html
    assert upload_client.put("/image_classify").status_code == 405


def test_model_classes_page(upload_client: Client, assets: Path) -> None:
    page = upload_client.get("/image_classify_classes?format=json").get_json()
    labels = (assets / "models" / "imagenet_labels.txt").read_text().splitlines()
    assert [c["label"] for c in page["classes"]] == labels
    # a label links to image_search only when it, or a part of its comma list, is a class
    with open(assets / "openimages" / "classes.csv", newline="") as fh:
        names = {row["Description"].lower(): row["Description"] for row in csv.DictReader(fh)}
    for c in page["classes"]:
        parts = [c["label"], *c["label"].split(",")]
        named = next((names[k] for p in parts if (k := p.strip().lower().replace("_", " "))
                      in names), None)  # fmt: skip
        want = f"/image_search?description={quote_plus(named)}" if named else None
        assert c["image_search"] == want, c
    linked = [c["label"] for c in page["classes"] if c["image_search"]]
    assert "hotdog, hot dog, red hot" in linked and "macaw" not in linked
    assert 0 < len(linked) < len(labels) / 4
    html = upload_client.get("/image_classify_classes").get_data(as_text=True)
    assert "<li>macaw</li>" in html


def test_upload_links_only_classes(upload_client: Client, photos: Path) -> None:
    files = [((photos / n).read_bytes(), n) for n in ("parrot.jpg", "hot_dog.jpg")]
    answers = {a["name"]: a for a in post(upload_client, files).get_json()["files"]}
    macaw = answers["parrot.jpg"]["predictions"][0]
    assert macaw["label"] == "macaw" and macaw["image_search"] is None
    hotdog = answers["hot_dog.jpg"]["predictions"][0]
    assert hotdog["image_search"] == "/image_search?description=Hot+dog", hotdog


def test_automl_export_with_dict_txt(tmp_path: Path, assets: Path, photos: Path) -> None:
    """An AutoML Vision Edge export: model.tflite beside dict.txt (N lines, no background)."""
    export = tmp_path / "export"
    export.mkdir()
    (export / "model.tflite").write_bytes((assets / MODEL).read_bytes())
    names = [f"class_{i}" for i in range(1001)]
    (export / "dict.txt").write_text("\n".join(names) + "\n")
    spec = load_spec(export / "model.tflite", export / "dict.txt")
    assert spec.labels[7] == "class 7"  # underscores shown as spaces, as the seed did
    top = Classifier(spec).classify((photos / "parrot.jpg").read_bytes())[0]
    macaw = (assets / "models" / "imagenet_labels.txt").read_text().splitlines().index("macaw")
    assert top.label == f"class {macaw}"
    (export / "dict.txt").write_text("a\nb\n")
    with pytest.raises(ModelError, match="1001 outputs but 2 labels"):
        load_spec(export / "model.tflite", export / "dict.txt")
    (export / "junk.tflite").write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"not a TFLite model|no labels"):
        load_spec(export / "junk.tflite", export / "dict.txt")


def test_cli_classify(
    tmp_path: Path, photos: Path, assets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIE_ASSETS", str(assets))
    fresh_app()
    (tmp_path / "text.jpg").write_text("hello")
    runner = CliRunner()
    good = runner.invoke(main, ["classify", str(photos / "parrot.jpg"), "--output", "json"])
    assert good.exit_code == 0, good.output
    assert '"label": "macaw"' in good.output
    mixed = runner.invoke(
        main, ["classify", str(photos), str(tmp_path / "text.jpg"), "--output", "csv"]
    )
    assert mixed.exit_code == 1
    lines = mixed.output.splitlines()
    assert lines[0] == "file,rank,label,score,error"
    assert any(line.endswith("not an image Pillow can read") for line in lines)
    assert (
        sum(",1," in line for line in lines) == 11
    )  # every photo but face.jpg has a class >= 0.25
    fresh_app()


def test_cli_model_copies_the_model_with_its_labels(
    tmp_path: Path, photos: Path, assets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIE_ASSETS", str(assets))
    fresh_app()
    runner = CliRunner()
    done = runner.invoke(main, ["model", "--copy-to", str(tmp_path / "bundle")])
    assert done.exit_code == 0, done.output
    assert "1001 labels, input 224x224" in done.output
    # the copy is a model of its own: loaded with dict.txt beside it, it answers the same
    copied = load_spec(tmp_path / "bundle" / "model.tflite")
    top = Classifier(copied).classify((photos / "parrot.jpg").read_bytes())[0]
    assert top.label == "macaw"
    monkeypatch.setenv("OIE_MODEL", str(tmp_path / "missing.tflite"))
    fresh_app()
    missing = runner.invoke(main, ["model"])
    assert missing.exit_code == 1 and "no model file at" in missing.output
    assert "Traceback" not in missing.output
    fresh_app()


def spec_with(output_dtype: object, quant: tuple[float, int]) -> ModelSpec:
    """A model description with three float-input classes and the given output tensor."""
    import numpy as np

    return ModelSpec(Path("m.tflite"), b"", ("a", "b", "c"), (4, 4), np.float32, (0.0, 0),
                     quant, np.dtype(output_dtype).type)  # fmt: skip


def test_outputs_of_every_kind_become_probabilities() -> None:
    import numpy as np

    logits = spec_with(np.float32, (0.0, 0)).to_scores(np.array([[2.0, -1.0, 0.5]]))
    assert abs(float(logits.sum()) - 1.0) < 1e-6 and logits.argmax() == 0  # softmax
    sigmoid = spec_with(np.float32, (0.0, 0)).to_scores(np.array([[0.9, 0.8, 0.1]]))
    assert sigmoid.tolist() == pytest.approx([0.9, 0.8, 0.1])  # multi-label: kept as they are
    uint8 = spec_with(np.uint8, (1 / 256, 0)).to_scores(np.array([[128, 64, 0]], dtype=np.uint8))
    assert uint8.tolist() == [0.5, 0.25, 0.0]
    int8 = spec_with(np.int8, (1 / 256, -128)).to_scores(np.array([[0, -128, 127]], dtype=np.int8))
    assert int8.tolist() == pytest.approx([0.5, 0.0, 255 / 256])


def test_float_input_is_normalised() -> None:
    import numpy as np

    pixels = np.array([[[0, 127, 255]]], dtype=np.uint8)
    out = spec_with(np.float32, (0.0, 0)).to_input(pixels)
    assert out.dtype == np.float32 and out.shape == (1, 1, 1, 3)
    assert out.reshape(-1).tolist() == pytest.approx([-1.0, -0.5 / 127.5, 1.0])


def test_default_model_is_downloaded_and_checked(
    tmp_path: Path, assets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oie import settings
    from oie.classify import sources
    from oie.dataset.sources import DownloadFailed

    served = tmp_path / "served"
    served.mkdir()
    (served / "model.tflite").write_bytes((assets / MODEL).read_bytes())

    with serving_folder(served) as base:
        url = base + "model.tflite"
        monkeypatch.setattr(sources, "DEFAULT_MODEL_URL", url)
        s = settings.Settings(data_dir=tmp_path / "data", assets=None)
        path = sources.model_path(s)
        assert path.read_bytes() == (assets / MODEL).read_bytes()
        assert load_spec(path).labels[0] == "background"  # labels embedded in the model
        path.unlink()
        monkeypatch.setattr(sources, "DEFAULT_MODEL_SHA256", "0" * 64)
        with pytest.raises(DownloadFailed, match="sha256"):
            sources.model_path(s)
        assert not path.exists()


def test_missing_model_is_a_clear_503(
    upload_client: Client, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIE_MODEL", str(tmp_path / "nowhere.tflite"))
    fresh_app()
    for response in (
        post(upload_client, [((photos / "owl.jpg").read_bytes(), "owl.jpg")]),
        upload_client.get("/image_classify_classes?format=json"),
    ):
        assert response.status_code == 503
        assert "no model file at" in response.get_json()["error"]
    fresh_app()


def test_request_over_the_size_limit(
    upload_client: Client, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oie.web import uploads

    monkeypatch.setattr(uploads, "MAX_REQUEST_BYTES", 100_000)
    response = post(upload_client, [((photos / "parrot.jpg").read_bytes(), "parrot.jpg")])
    assert response.status_code == 413
    assert "request is larger than 100,000 bytes" in response.get_json()["error"]
    assert list(current().blobstore.list()) == []
