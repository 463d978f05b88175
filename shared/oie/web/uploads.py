"""Upload pages: classify photos with the TFLite model or Cloud Vision; the model's classes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import flask
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from ..errors import InputError, NotAllowed, TooLarge, Unavailable
from ..storage import UPLOAD_PREFIX, BlobStore
from .params import Params, integer, number, query, read
from .render import PRIVATE, View, page, respond, wants_json
from .results import catalog_of, class_search

if TYPE_CHECKING:
    from ..app import App
    from ..catalog import Catalog
    from ..classify.labels import Labeler

# The limits of one upload request, enforced by werkzeug while the body is parsed, whether it
# comes with a Content-Length or chunked (README's limits table copies these):
MAX_FILES = 32  # files in one request; each is decoded in turn, so time, not memory
# The body: Cloud Run refuses HTTP/1 requests over 32 MiB, so locally too. werkzeug spools
# files over 500 KB to /tmp, which is RAM when deployed.
MAX_REQUEST_BYTES = 32 * 1024 * 1024
MAX_FIELDS = 8  # parts besides the files (min_confidence, top_k, ...)
MAX_FORM_PARTS = MAX_FILES + MAX_FIELDS
MAX_FIELD_BYTES = 256 * 1024  # one text field, held in memory; werkzeug applies it to its
# 64 KiB read buffer too, so it must stay well above that
# What is read and thrown away of a body over the limit, so the client, which sends the
# whole body before it reads, sees the 413 rather than a reset connection. Beyond it the
# connection is closed.
DRAIN_BYTES = 512 * 1024 * 1024


def thumbnail(data: bytes) -> str | None:
    """A small JPEG data URL of an image, through the one image-opening path (Pillow is
    imported on first use: results.py needs it only for bucket objects)."""
    from ..classify import images

    return images.thumbnail(data)


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


def model_catalog(app: App) -> Catalog | None:
    """The catalog the model functions link labels with: the local home's. Deployed, they
    read none (the upload functions' account has no BigQuery role, and none of their
    bundles carries its client), so their labels are plain text; `results` links them."""
    return catalog_of(app) if app.settings.warehouse == "duckdb" else None


def classify_uploads(app: App, labeler: Labeler, files: list[FileStorage], min_confidence: float,
                     top_k: int | None, with_thumbnails: bool) -> list[dict[str, Any]]:  # fmt: skip
    catalog = model_catalog(app)
    answers = []
    for upload in files:
        name = upload.filename or "(no name)"
        data = upload.stream.read()
        outcome = labeler.outcome(name, data, min_confidence, top_k)
        answer: dict[str, Any] = {"name": name, "ok": outcome.ok}
        if outcome.ok:
            answer["predictions"] = [
                {"label": p.label, "score": p.score, "mid": getattr(p, "mid", None) or None,
                 "image_search": class_search(p.label, getattr(p, "mid", None), catalog,
                                              app.links)}
                for p in outcome.predictions
            ]  # fmt: skip
            answer["stored"] = store_upload(app.blobstore, data, name)
            if with_thumbnails:
                answer["thumbnail"] = thumbnail(data)
        else:
            answer["error"] = outcome.error
        answers.append(answer)
    return answers


def _finish_body(request: flask.Request) -> None:
    """Read what is left of the body and drop it; of an oversized body at most DRAIN_BYTES.
    functions-framework reads the whole body into memory after every handler
    (`read_request`); it then finds this one consumed."""
    try:
        while request.stream.read(1 << 16):
            pass
    except RequestEntityTooLarge:  # past the limit: the rest is read raw, to be dropped
        raw = request.environ["wsgi.input"]
        left = DRAIN_BYTES
        while left > 0 and (chunk := raw.read(min(left, 1 << 16))):
            left -= len(chunk)
    request._cached_data = b""  # what get_data() returns once the body was read


def _too_large(request: flask.Request) -> str:
    """Which of werkzeug's limits the request broke (its error does not say)."""
    body = f"the request is larger than {MAX_REQUEST_BYTES:,} bytes"
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        return body
    try:
        exhausted = getattr(request.stream, "is_exhausted", False)
    except RequestEntityTooLarge:
        return body
    if exhausted:
        return body
    return (f"the form has more than {MAX_FORM_PARTS} parts or a text field over "
            f"{MAX_FIELD_BYTES:,} bytes: at most {MAX_FILES} files and {MAX_FIELDS} other "
            "fields")  # fmt: skip


def _parts(request: flask.Request) -> tuple[list[FileStorage], list[str], dict[str, str]]:
    """The files sent as 'files', the text parts sent as 'files', the other fields."""
    try:
        files = request.files.getlist("files")
        form = request.form
    except RequestEntityTooLarge:
        raise TooLarge("files", _too_large(request)) from None
    return files, form.getlist("files"), {k: v for k, v in form.items() if k != "files"}


# The upload functions' fields besides `files` (form fields or query parameters).
FIELDS = (
    number("min_confidence", "labels scoring at least this", 0.25, 0.0, 1.0),
    integer("top_k", "at most this many labels a file (0: no limit)", 0, 0, 1000),
)


def _empty(upload: FileStorage) -> bool:
    empty = not upload.stream.read(1)
    upload.stream.seek(0)
    return empty


def _classify(request: flask.Request, app: App, function: str,
              make_labeler: Callable[[], Labeler]) -> View:  # fmt: skip
    files, texts, fields = _parts(request)
    files = [f for f in files if f.filename or not _empty(f)]  # a browser's "no file chosen"
    v = read(Params(query(request).to_dict() | fields), FIELDS)
    min_confidence, top_k = v["min_confidence"], v["top_k"] or None
    if not files and not texts:
        raise InputError("files", "send one or more images as multipart form field 'files'")
    if len(files) + len(texts) > MAX_FILES:
        raise TooLarge("files", f"{len(files) + len(texts)} files in one request; "
                       f"at most {MAX_FILES}")  # fmt: skip
    labeler = make_labeler()
    with_thumbnails = not wants_json(request)
    answers = classify_uploads(app, labeler, files, min_confidence, top_k, with_thumbnails)
    answers += [
        {"name": "(text field)", "ok": False,
         "error": "a text field, not a file: send the image as a file (a part with a filename)"}
        for _ in texts
    ]  # fmt: skip
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
    """GET: the upload form. POST (multipart `files`): every file's classes, best first.

    The body is bounded however it arrives (Content-Length or chunked) by werkzeug's limits,
    set here before anything reads it, and always consumed before the answer."""
    request.max_content_length = MAX_REQUEST_BYTES
    request.max_form_parts = MAX_FORM_PARTS
    request.max_form_memory_size = MAX_FIELD_BYTES
    try:
        if request.method == "GET":
            form = {"function": function, "files": None}
            return page(lambda q, app: View("image_classify.html", "Classify images", form))(
                request, app
            )

        def make() -> View:
            if request.method != "POST":
                raise NotAllowed("use POST with multipart form field 'files'", "GET, HEAD, POST")
            return _classify(request, app, function, labeler)

        response = respond(request, app, make, function)
    finally:
        _finish_body(request)
    response.headers["Cache-Control"] = PRIVATE
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
    catalog = model_catalog(app)
    labels = [
        {"label": label, "image_search": class_search(label, None, catalog, app.links)}
        for label in classifier.spec.labels
    ]
    data = {"model": classifier.model, "count": len(labels), "classes": labels}
    return View("image_classify_classes.html", "Classes the model knows", data)
