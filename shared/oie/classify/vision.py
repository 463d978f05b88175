"""Label images with Cloud Vision (LABEL_DETECTION): the second Labeler beside TFLite.

Same call shape as the TFLite `Classifier`: `classify(data, min_confidence, top_k)` gives
predictions best first, `model` names the model, `outcome()` turns a rejection into an
`Outcome`. Each label is a `VisionLabel`, a `Prediction` that also carries the Open Images
label id (`mid`, e.g. "/m/01yrx" for Cat) and the API's topicality.

Errors, as the architecture asks:

- `RejectedImage` (permanent, never retry): not an image, a format Cloud Vision does not
  take (checked locally with `sniff`, before any call), or the API's own verdict about the
  image (per-image status INVALID_ARGUMENT, e.g. "Bad image data.", or an HTTP 400).
- `VisionUnavailable` (an `Unavailable`, so HTTP entry points answer 503): no credentials,
  quota (429), server errors (5xx), timeouts, connection errors. `transient` says whether
  trying again later can help; event functions must *raise* on transient errors so the
  platform redelivers the event. The google.api_core / requests exception is `__cause__`.

The client is google-cloud-vision's `ImageAnnotatorClient`, created lazily once per labeler
(behind a lock; the app makes one labeler per process) and shared by threads. Credentials
are Application Default Credentials only. `OIE_VISION_ENDPOINT` points the client at another
endpoint: a plain
`http://host:port` (or `host:port`) one is a local fake or emulator and gets anonymous
credentials; an `https://` one (e.g. a regional endpoint) still uses ADC.

The REST transport is used everywhere, so production runs the very code path the tests run
against the local fake. The library's default retry (up to 600 s on 503) is replaced by a
short one; pass `retry=None` to fail on the first error.

google-cloud-vision is imported only inside functions: this module imports without it.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ..cloud import client_kwargs, is_local
from ..errors import Busy, Unavailable
from .images import DEFAULT_LIMITS, Limits, RejectedImage, load_rgb, sniff
from .labels import Labels, Prediction

MODEL = "cloud-vision"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

# Formats the API takes (https://cloud.google.com/vision/docs/supported-files), as Pillow
# names them; PDF and RAW are not images Pillow opens. MPO is a JPEG with extra frames.
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP", "ICO", "TIFF"})

# The API takes at most 10 MB of JSON per request; base64 grows the bytes by 4/3. Larger
# files are sent as a downscaled JPEG (label detection needs only ~640x480 anyway).
MAX_UPLOAD_BYTES = 7_500_000
SHRINK_SIDE = 2048

MAX_RESULTS = 50  # labels asked for when top_k is None (the API's own default is 10)
TIMEOUT_S = 30.0  # the whole call, retries included

# google.rpc.Code of a per-image error: about the image (permanent) or worth a retry.
PERMANENT_CODES = frozenset({3, 11})  # INVALID_ARGUMENT, OUT_OF_RANGE
TRANSIENT_CODES = frozenset({2, 4, 8, 10, 13, 14})  # UNKNOWN, DEADLINE_EXCEEDED,
# RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE


class VisionUnavailable(Unavailable):
    """Cloud Vision cannot answer now; `transient` says whether a retry can help (then the
    answer carries Busy's Retry-After)."""

    def __init__(self, message: str, transient: bool = True):
        super().__init__(message)
        self.transient = transient
        self.retry_after = Busy.retry_after if transient else None


@dataclass(frozen=True)
class VisionLabel(Prediction):
    """A Prediction with the Open Images label id (`mid`) and the API's topicality."""

    mid: str = ""
    topicality: float = 0.0


_DEFAULT = object()  # "use the labeler's short default retry"


def _application_default_credentials() -> tuple[Any, str | None] | None:
    """google.auth.default(), or None when there are none."""
    try:
        import google.auth
        from google.auth.exceptions import GoogleAuthError
    except ImportError:
        return None
    try:
        return google.auth.default(scopes=list(SCOPES))
    except GoogleAuthError:  # DefaultCredentialsError and malformed files
        return None


def credentials_available(endpoint: str = "") -> bool:
    """True when a call can be attempted: ADC found, or a local (http) endpoint configured.

    No call to Cloud Vision. The lookup is google.auth.default(): it may run `gcloud` for
    the project id and probe the GCE metadata server (NO_GCE_CHECK=true skips that off
    Google Cloud); a `VisionLabeler` looks once and remembers.
    """
    return is_local(endpoint) or _application_default_credentials() is not None


def _make_client(endpoint: str, credentials: Any) -> Any:
    from google.cloud import vision

    kwargs = {"credentials": credentials, **client_kwargs(endpoint)}
    return vision.ImageAnnotatorClient(transport="rest", **kwargs)


def default_retry() -> Any:
    """A short retry (~5 s, not the library's 600 s) of 503, deadline and connection errors.

    Over REST a slow answer raises requests' ReadTimeout, not DeadlineExceeded, and the
    first try already spends the call's whole `timeout`, so read timeouts are not retried.
    """
    import requests
    from google.api_core import exceptions as core
    from google.api_core.retry import Retry, if_exception_type

    return Retry(
        predicate=if_exception_type(
            core.ServiceUnavailable,
            core.DeadlineExceeded,
            requests.ConnectionError,  # includes ConnectTimeout; e.g. a reset keep-alive
            requests.exceptions.ChunkedEncodingError,
        ),
        initial=0.2,
        maximum=2.0,
        multiplier=2.0,
        timeout=5.0,
    )


def _api_message(exc: Any) -> str:
    """The API's own message; over REST the exception's text starts with "POST url: "."""
    try:
        return str(exc.response.json()["error"]["message"])
    except Exception:
        return str(getattr(exc, "message", "") or exc)


def _failure(exc: Exception) -> Exception | None:
    """What a failed call means for us, or None when the exception is not one we know."""
    from google.api_core import exceptions as core

    if isinstance(exc, core.RetryError):
        return VisionUnavailable(f"Cloud Vision kept failing: {exc.cause or exc}")
    if isinstance(exc, core.BadRequest):  # 400: the request (the one image) is refused
        return RejectedImage(_api_message(exc))
    if isinstance(exc, core.ServerError | core.TooManyRequests):
        return VisionUnavailable(f"Cloud Vision is unavailable: {exc}")
    if isinstance(exc, core.GoogleAPICallError):  # 401, 403, 404: configuration
        return VisionUnavailable(f"Cloud Vision refused the call: {exc}", transient=False)
    try:
        import requests
        from google.auth import exceptions as auth
    except ImportError:  # pragma: no cover - both come with google-api-core
        return None
    if isinstance(exc, auth.RefreshError):
        retryable = bool(getattr(exc, "retryable", False))
        return VisionUnavailable(f"cannot refresh Google credentials: {exc}", retryable)
    if isinstance(exc, requests.RequestException | auth.TransportError):
        return VisionUnavailable(f"cannot reach Cloud Vision: {exc}")
    return None


def _shrink(data: bytes, side: int = SHRINK_SIDE, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """A JPEG at most `side` pixels on its long side, upright, for uploads over the limit."""
    image = load_rgb(data, (side, side), limits)
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


class VisionLabeler(Labels):
    """Cloud Vision label detection with the TFLite classifier's call shape; thread-safe."""

    model = MODEL

    def __init__(
        self,
        endpoint: str = "",
        limits: Limits = DEFAULT_LIMITS,
        retry: Any = _DEFAULT,
        timeout: float | None = TIMEOUT_S,
        max_results: int = MAX_RESULTS,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ):
        """`endpoint`: "" for the real API, else another (Settings.vision_endpoint).

        `retry`: a google.api_core Retry, None for a single try, or the short default.
        `timeout`: seconds for the whole call, retries included.
        """
        self.endpoint = endpoint.strip()
        self.limits = limits
        self._retry = retry
        self.timeout = timeout
        self.max_results = max_results
        self.max_upload_bytes = max_upload_bytes
        self._lock = threading.Lock()  # guards _client
        self._adc_lock = threading.Lock()  # guards _adc (a lookup may take seconds)
        self._client: Any = None
        self._adc: list[tuple[Any, str | None] | None] = []  # [] = not looked up yet

    def _credentials(self) -> tuple[Any, str | None] | None:
        with self._adc_lock:
            if not self._adc:
                self._adc.append(_application_default_credentials())
            return self._adc[0]

    def credentials_available(self) -> bool:
        """Whether a call can be attempted; looked up once per labeler."""
        return is_local(self.endpoint) or self._credentials() is not None

    def client(self) -> Any:
        """This labeler's ImageAnnotatorClient, made on first use and shared by threads."""
        credentials = None
        if not is_local(self.endpoint):
            adc = self._credentials()
            if adc is None:
                raise VisionUnavailable(
                    "Cloud Vision needs Google credentials (Application Default Credentials: "
                    "run `gcloud auth application-default login`, or run on Google Cloud)",
                    transient=False,
                )
            credentials = adc[0]
        with self._lock:
            if self._client is None:
                self._client = _make_client(self.endpoint, credentials)
            return self._client

    def prepare(self, data: bytes) -> bytes:
        """The bytes to send: checked locally (RejectedImage), downscaled when too large."""
        fmt, _size = sniff(data, self.limits)
        if fmt not in SUPPORTED_FORMATS:
            raise RejectedImage(f"Cloud Vision does not accept {fmt} images")
        if len(data) > self.max_upload_bytes:
            data = _shrink(data, limits=self.limits)
        return data

    def annotate(self, data: bytes, max_results: int | None = None) -> tuple[VisionLabel, ...]:
        """Every label the API returns (at most `max_results`), best first."""
        content = self.prepare(data)
        client = self.client()
        from google.cloud import vision

        request = vision.AnnotateImageRequest(
            image=vision.Image(content=content),
            features=[
                vision.Feature(
                    type_=vision.Feature.Type.LABEL_DETECTION,
                    max_results=max_results or self.max_results,
                )
            ],
        )
        retry = default_retry() if self._retry is _DEFAULT else self._retry
        try:
            batch = client.batch_annotate_images(
                requests=[request], retry=retry, timeout=self.timeout
            )
        except Exception as exc:
            failure = _failure(exc)
            if failure is None:
                raise
            raise failure from exc
        if not batch.responses:
            raise VisionUnavailable("Cloud Vision returned no response for the image")
        response = batch.responses[0]
        if response.error.code or response.error.message:
            code, message = response.error.code, response.error.message or "unknown error"
            if code in PERMANENT_CODES:
                raise RejectedImage(message)
            raise VisionUnavailable(
                f"Cloud Vision failed on the image (code {code}): {message}",
                transient=code in TRANSIENT_CODES,
            )
        labels = [
            VisionLabel(
                label=a.description,
                score=round(float(a.score), 6),
                mid=a.mid,
                topicality=round(float(a.topicality), 6),
            )
            for a in response.label_annotations
        ]
        labels.sort(key=lambda p: -p.score)  # stable: the API's order among equal scores
        return tuple(labels)

    def classify(self, data: bytes, min_confidence: float = 0.25,
                 top_k: int | None = None) -> tuple[VisionLabel, ...]:  # fmt: skip
        """Highest first, cut at the first score under min_confidence, at most top_k."""
        out = []
        for label in self.annotate(data, top_k)[: top_k or None]:
            if label.score < min_confidence:
                break
            out.append(label)
        return tuple(out)
