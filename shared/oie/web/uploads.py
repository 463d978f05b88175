"""Upload pages: classify photos with the TFLite model or Cloud Vision; the model's classes."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import flask
from werkzeug.datastructures import FileStorage

from ..errors import InputError, NotAllowed, TooLarge, Unavailable
from ..storage import UPLOAD_PREFIX, BlobStore
from .params import Params
from .render import View, page, respond, wants_json

if TYPE_CHECKING:
    from ..app import App
    from ..classify.labels import Labeler

MAX_FILES = 32
MAX_REQUEST_BYTES = 64 * 1024 * 1024


def thumbnail(data: bytes) -> str | None:
    """A small JPEG data URL of an upload, for the page (uploads are never made public)."""
    from PIL import Image, ImageOps

    from ..classify.images import sniff

    try:
        sniff(data)  # the byte and pixel limits, from the header, before decoding
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", (320, 320))
            image = ImageOps.exif_transpose(opened).convert("RGB")
            image.thumbnail((320, 320))
            out = io.BytesIO()
            image.save(out, "JPEG", quality=80)
    except Exception:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def store_upload(store: BlobStore, data: bytes, original_name: str) -> str:
    """Keep an upload under a content-addressed name; two users' cat.jpg never collide."""
    from ..classify.images import extension

    digest = hashlib.sha256(data).hexdigest()
    ext = extension(data)
    stored = store.put(
        f"{UPLOAD_PREFIX}{digest}.{ext}", data, content_type=f"image/{ext}",
        metadata={"originalName": original_name[:200], "sha256": digest},
    )  # fmt: skip
    return stored.uri


def classify_uploads(app: App, labeler: Labeler, files: list[FileStorage], min_confidence: float,
                     top_k: int | None, with_thumbnails: bool) -> list[dict[str, Any]]:  # fmt: skip
    answers = []
    for upload in files:
        name = upload.filename or "(no name)"
        data = upload.stream.read()
        outcome = labeler.outcome(name, data, min_confidence, top_k)
        answer: dict[str, Any] = {"name": name, "ok": outcome.ok}
        if outcome.ok:
            answer["predictions"] = [
                {"label": p.label, "score": p.score, "mid": getattr(p, "mid", None) or None,
                 "image_search": app.links.url("image_search", description=p.label)}
                for p in outcome.predictions
            ]  # fmt: skip
            answer["stored"] = store_upload(app.blobstore, data, name)
            if with_thumbnails:
                answer["thumbnail"] = thumbnail(data)
        else:
            answer["error"] = outcome.error
        answers.append(answer)
    return answers


def _classify(request: flask.Request, app: App, function: str, labeler: Labeler) -> View:
    q = Params(request.args.to_dict() | request.form.to_dict())
    min_confidence = q.number("min_confidence", 0.25, 0.0, 1.0)
    top_k = q.integer("top_k", 0, 0, 1000) or None
    files = [f for f in request.files.getlist("files") if f.filename or f.content_length]
    if not files:
        raise InputError("files", "send one or more images as multipart form field 'files'")
    if len(files) > MAX_FILES:
        raise TooLarge("files", f"{len(files)} files in one request; at most {MAX_FILES}")
    with_thumbnails = not wants_json(request)
    answers = classify_uploads(app, labeler, files, min_confidence, top_k, with_thumbnails)
    data = {
        "function": function,
        "model": labeler.model,
        "min_confidence": min_confidence,
        "top_k": top_k,
        "files": answers,
    }
    return View("image_classify.html", "Classified images", data)


def upload_page(request: flask.Request, app: App, function: str,
                labeler: Callable[[], Labeler]) -> flask.Response:  # fmt: skip
    """GET: the upload form. POST (multipart `files`): every file's classes, best first."""
    if request.method == "GET":
        form = {"function": function, "files": None}
        return page(lambda q, app: View("image_classify.html", "Classify images", form))(
            request, app
        )

    def make() -> View:
        if request.method != "POST":
            raise NotAllowed("use POST with multipart form field 'files'", "GET, HEAD, POST")
        # Checked from the Content-Length header, before reading: functions-framework
        # reads the whole body after the handler, so a Flask size limit would fail there
        # instead. A chunked request has no Content-Length and is not bounded here.
        if (request.content_length or 0) > MAX_REQUEST_BYTES:
            raise TooLarge("files", f"request is larger than {MAX_REQUEST_BYTES:,} bytes")
        return _classify(request, app, function, labeler())

    response = respond(request, app, make, function)
    response.headers["Cache-Control"] = "no-store"
    return response


def image_classify(request: flask.Request, app: App) -> flask.Response:
    return upload_page(request, app, "image_classify", lambda: app.classifier)


VISION_HOWTO = (
    "Cloud Vision needs Google credentials: enable the Vision API in your project and run "
    "`gcloud auth application-default login` (or deploy, where the function's service "
    "account is used). Everything else works without them."
)


def _vision(app: App) -> Labeler:
    if not app.vision.credentials_available():
        raise Unavailable(VISION_HOWTO)
    return app.vision


def label_detection(request: flask.Request, app: App) -> flask.Response:
    return upload_page(request, app, "label_detection", lambda: _vision(app))


@page
def image_classify_classes(q: Params, app: App) -> View:
    classifier = app.classifier
    labels = [
        {"label": label, "image_search": app.links.url("image_search", description=label)}
        for label in classifier.spec.labels
    ]
    data = {"model": classifier.model, "count": len(labels), "classes": labels}
    return View("image_classify_classes.html", "Classes the model knows", data)
