"""The `oie` command: import the data, serve the local stack, check what is loaded."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .app import current
from .dataset.subsets import SUBSETS
from .errors import OIEError
from .provision.command import command as provision  # its clients are imported as it runs
from .settings import SettingError, Stack
from .tables import DERIVED


def _bar(label: str, total: int | None, unit: str = "B") -> Callable[[int], None]:
    """A progress bar on standard error (quiet when it is no terminal); returns its update."""
    from tqdm import tqdm

    bar = tqdm(total=total or None, desc=label, unit=unit, unit_scale=unit == "B", leave=False,
               disable=None, file=sys.stderr)  # fmt: skip
    return bar.update


def _download_bar(name: str) -> Callable[[int, int | None], None]:
    """A progress bar for one download, sized from its first chunk's Content-Length."""
    update: Callable[[int], None] | None = None

    def tick(n: int, total: int | None) -> None:
        nonlocal update
        if update is None:
            update = _bar(f"downloading {name}", total)
        update(n)

    return tick


def _port() -> int:
    return current().settings.port


class _Commands(click.Group):
    """The project's errors, and a bad setting, end a command with one line, no traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (OIEError, SettingError) as exc:
            raise click.ClickException(_with_hint(exc)) from exc


def _stack() -> Stack | None:
    """The local stack running on this checkout's data, if one is."""
    from .settings import running_stack

    return running_stack(current().settings.data_dir)


def _ask_stack(stack: Stack, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The running stack's JSON answer at `path` (a POST of `body`, if given); its 400 is a
    usage error, anything else one line."""
    import json
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.url + path, data=data,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            answer: dict[str, Any] = json.load(response)
            return answer
    except urllib.error.HTTPError as exc:
        said = json.loads(exc.read() or b"{}").get("error", exc.reason)
        if exc.code == 400:
            raise click.UsageError(said) from exc
        raise click.ClickException(f"the running stack at {stack.url}: {said}") from exc
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"the running stack at {stack.url} (pid {stack.pid}) did "
                                   f"not answer: {exc}") from exc  # fmt: skip


def _with_hint(exc: Exception) -> str:
    """The error, and what to do when the running stack holds the local warehouse."""
    from .settings import running_stack
    from .warehouse import WarehouseError

    text = str(exc)
    stack = running_stack(current().settings.data_dir) if isinstance(exc, WarehouseError) else None
    if stack is not None and current().settings.warehouse == "duckdb":
        text += (f": the running stack at {stack.url} (pid {stack.pid}) holds it; stop it "
                 "(Ctrl-C where it runs), run this again, then `make demo` again")  # fmt: skip
    return text


def _refuse_second_stack() -> None:
    """One stack per data directory: a second could not open the DuckDB file it holds."""
    stack = _stack()
    if stack is not None and stack.pid != os.getpid():
        raise click.ClickException(
            f"a stack already runs on {current().settings.data_dir}/ at {stack.url} (pid "
            f"{stack.pid}): open it there, or stop it (Ctrl-C where it runs) first"
        )


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Open Images Explorer: browse Open Images and classify images, locally or on Google Cloud.

    Settings come from the environment (or .env): OIE_ASSETS, OIE_DATA_DIR, OIE_WAREHOUSE, ...
    """


main.add_command(provision)  # the data plane on Google Cloud; deploy.sh runs it too


@main.command("import")
@click.option("--demo", is_flag=True, help="The course data: from OIE_ASSETS, else downloaded.")
@click.option("--classes", type=click.Path(path_type=Path), help="Class names CSV.")
@click.option("--labels", type=click.Path(path_type=Path), help="Image labels CSV.")
@click.option("--relations", type=click.Path(path_type=Path), help="Relations CSV.")
def import_(demo: bool, classes: Path | None, labels: Path | None, relations: Path | None) -> None:
    """Load CSVs (course or official Open Images format) into the warehouse.

    Each file is checked in full first: a wrong file changes nothing. Importing again
    replaces the tables.
    """
    from .dataset.importer import ImportFailed, import_files
    from .dataset.sources import DownloadFailed, demo_files

    s = current().settings
    given = {
        t: p for t, p in (("classes", classes), ("image_labels", labels),
                          ("relations", relations)) if p
    }  # fmt: skip
    try:
        files = given
        if demo:  # named files override the demo set's
            downloads = s.data_dir / "downloads"
            files = {**demo_files(s.assets, downloads, s.data_url, _download_bar), **given}
        if not files:
            raise click.UsageError(
                "name files to import (--classes/--labels/--relations) or --demo"
            )
        reports = import_files(current().warehouse, files, s.data_dir / "tmp", progress=_bar)
    except (ImportFailed, DownloadFailed) as exc:
        raise click.ClickException(str(exc)) from exc
    for report in reports:
        click.echo(report.summary())
    click.echo(f"derived: {', '.join(d.name for d in DERIVED)} ({current().warehouse.name})")


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def _image_paths(paths: tuple[Path, ...]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(path)
    return out


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.25, show_default=True)
@click.option("--top-k", type=click.IntRange(1, 1000), default=None, help="At most K classes.")
@click.option("--output", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)  # fmt: skip
@click.option("--workers", type=click.IntRange(1, 64), default=os.cpu_count() or 1,
              show_default="number of cores")  # fmt: skip
def classify(paths: tuple[Path, ...], min_confidence: float, top_k: int | None, fmt: str,
             workers: int) -> None:  # fmt: skip
    """Classify image files (or every image in folders) with the TFLite model.

    Exits with status 1 when any file was rejected; each rejection says why.
    """
    import csv
    import json

    from tqdm import tqdm

    from .classify.model import ModelError

    files = _image_paths(paths)
    if not files:
        raise click.UsageError("no image files found")
    try:
        from .classify.sources import DEFAULT_MODEL, model_path

        model_path(current().settings, _download_bar(DEFAULT_MODEL))  # a bar if downloaded
        classifier = current().classifier
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    items = [(str(p), p.read_bytes) for p in files]
    outcomes = list(tqdm(classifier.classify_many(items, min_confidence, top_k, workers),
                         total=len(items), unit="img", disable=None, file=sys.stderr))  # fmt: skip
    if fmt == "json":
        rows = [{"file": o.name, "ok": o.ok, "error": o.error,
                 "predictions": [{"label": p.label, "score": p.score} for p in o.predictions]}
                for o in outcomes]  # fmt: skip
        click.echo(json.dumps({"model": classifier.model, "files": rows}, indent=2))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["file", "rank", "label", "score", "error"])
        for o in outcomes:
            if not o.ok:
                writer.writerow([o.name, "", "", "", o.error])
            for rank, p in enumerate(o.predictions, 1):
                writer.writerow([o.name, rank, p.label, f"{p.score:.4f}", ""])
    else:
        for o in outcomes:
            if not o.ok:
                click.echo(f"{o.name}: rejected: {o.error}")
                continue
            found = "; ".join(f"{p.label} {p.score:.2f}" for p in o.predictions)
            click.echo(f"{o.name}: {found or f'nothing at {min_confidence} or more'}")
    if not all(o.ok for o in outcomes):
        sys.exit(1)


@main.command()
@click.option("--copy-to", type=click.Path(file_okay=False, path_type=Path),
              help="Write the model and labels here (model.tflite, dict.txt).")  # fmt: skip
def model(copy_to: Path | None) -> None:
    """The TFLite model the classifiers use (OIE_MODEL, else the default) and its labels."""
    from .classify.model import ModelError, load_spec
    from .classify.sources import DEFAULT_MODEL, model_path
    from .dataset.sources import DownloadFailed

    s = current().settings
    try:
        spec = load_spec(model_path(s, _download_bar(DEFAULT_MODEL)), s.model_labels)
    except (ModelError, DownloadFailed) as exc:
        raise click.ClickException(str(exc)) from exc
    width, height = spec.input_size
    click.echo(f"{spec.path}: {len(spec.labels)} labels, input {width}x{height}")
    if copy_to is not None:
        copy_to.mkdir(parents=True, exist_ok=True)
        (copy_to / "model.tflite").write_bytes(spec.content)
        (copy_to / "dict.txt").write_text("\n".join(spec.labels) + "\n", encoding="utf-8")
        click.echo(f"copied to {copy_to}/model.tflite and {copy_to}/dict.txt")


@main.command()
def status() -> None:
    """Rows in each table of the warehouse (asked of the running stack, if one runs)."""
    from .local.host import STATUS_PATH, table_rows

    stack = _stack()
    if stack is None:
        rows = table_rows(current())
    else:
        rows = _ask_stack(stack, STATUS_PATH)["tables"]
        click.echo(f"(from the running stack at {stack.url})", err=True)
    for table, count in rows.items():
        click.echo(f"{table:20s} {'missing' if count is None else f'{count:,}'}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=_port,
              show_default="8080 or $PORT")  # fmt: skip
@click.option("--threads", type=click.IntRange(1, 1000), default=None,
              show_default="the largest concurrency in functions.toml, as deployed")  # fmt: skip
@click.option("--watch/--no-watch", default=True, show_default=True,
              help="Classify files dropped into the bucket folder.")  # fmt: skip
def serve(host: str, port: int, threads: int | None, watch: bool) -> None:
    """Serve every function at http://HOST:PORT/NAME; watch the bucket folder."""
    from .local.host import serve as run
    from .settings import forget_stack, record_stack

    s = current().settings
    _refuse_second_stack()
    if not _port_free(host, port):
        raise click.ClickException(f"port {port} on {host} is in use: name another with --port "
                                   "N (for make demo, PORT=N make demo)")  # fmt: skip
    click.echo(f"Open Images Explorer on http://{host}:{port}/  (Ctrl-C stops)", err=True)
    if watch:
        click.echo(f"Classifying what lands in {s.bucket_folder}/", err=True)
    record_stack(s, host, port)  # commands in other shells use what this stack uses
    try:
        run(host, port, threads, watch)
    finally:
        forget_stack(s)


@main.command()
@click.option("--uri", help="gs://BUCKET/OBJECT to classify.")
@click.option("--image-id", help="An Open Images id (16 hex digits) to classify.")
@click.option("--to", "base", default=lambda: f"http://127.0.0.1:{_port()}",
              show_default="the local host", help="Where the local stack listens.")  # fmt: skip
def publish(uri: str | None, image_id: str | None, base: str) -> None:
    """Ask the classifiers to classify an object or an Open Images photo.

    The request is the Pub/Sub message {"uri"} or {"image_id"}: published to the topic when
    OIE_EVENTS=pubsub (the default when PUBSUB_EMULATOR_HOST is set), else delivered to each
    classifier function of the running local stack.
    """
    from .local.publish import PublishFailed, publish_request, publish_to_topic
    from .pipeline.events import BadEvent

    if bool(uri) == bool(image_id):
        raise click.UsageError("give exactly one of --uri or --image-id")
    body = {"uri": uri} if uri else {"image_id": image_id}
    app = current()
    s = app.settings
    try:
        if s.events == "pubsub":
            click.echo(publish_to_topic(s.project, s.topic, body))
            return
        for name, status in publish_request(base, body, app.available_classifiers()):
            click.echo(f"{name}: {status}")
    except (BadEvent, PublishFailed) as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=_port,
              show_default="8080 or $PORT")  # fmt: skip
@click.pass_context
def demo(ctx: click.Context, host: str, port: int) -> None:
    """Import the demo data if the warehouse has none, then serve."""
    _refuse_second_stack()
    app = current()
    if any(app.warehouse.row_count(d.name) is None for d in DERIVED):
        ctx.invoke(import_, demo=True)
    app.close()  # the server opens its own connection
    ctx.invoke(serve, host=host, port=port)


@main.command("evaluate")
@click.argument("csv_file", metavar="CSV",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Top-1 counts when its score is at least this; else (none).")  # fmt: skip
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw the confusion matrix as a heat map in this PNG file.")  # fmt: skip
@click.option("--output", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)  # fmt: skip
@click.option("--workers", type=click.IntRange(1, 64), default=os.cpu_count() or 1,
              show_default="number of cores")  # fmt: skip
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the CSV's relative paths (default: the CSV's folder).")  # fmt: skip
def evaluate_(csv_file: Path, threshold: float, plot_path: Path | None, fmt: str,
              workers: int, images: Path | None) -> None:  # fmt: skip
    """Per-class precision and recall and a confusion matrix, as AutoML's evaluation page.

    CSV rows are `path,label` (an optional first row `path,label` is a header); a relative
    path is relative to --images, else to the CSV's folder. A file's predicted class is the
    model's top-1 label if its score is at least --threshold, else (none); one that is none
    of the true classes is (other). Labels compare case-insensitively, `_` as a space, and a
    model label that is a comma list ("hotdog, hot dog, red hot") matches a true label equal
    to the whole or to any one part ("hot dog"). Files that cannot be read or are no image
    are counted and listed, not scored; the exit status is then 1.
    """
    import json
    from collections.abc import Iterable

    from tqdm import tqdm

    from .classify import evaluate as ev
    from .classify.classifier import Outcome
    from .classify.model import ModelError

    try:
        examples = ev.read_examples(csv_file, images)
        classifier = current().classifier
    except (ev.EvaluationInputError, ModelError) as exc:
        raise click.ClickException(str(exc)) from exc

    def progress(outcomes: Iterable[Outcome], total: int) -> Iterable[Outcome]:
        return tqdm(outcomes, total=total, unit="img", disable=None, file=sys.stderr)

    result = ev.evaluate(classifier, examples, threshold, workers, progress)
    if fmt == "json":
        click.echo(json.dumps(ev.to_json(result), indent=2))
    else:
        click.echo(ev.render_text(result))
    if plot_path is not None:
        ev.plot(result, plot_path)
        click.echo(f"plot: {plot_path}", err=True)
    if result.rejected:
        sys.exit(1)


def _split_option(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    from .dataset.automl import parse_split

    try:
        return parse_split(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


@main.command("automl-csv")
@click.option("--classes", "names", required=True, metavar="A,B,...",
              help="Class names, comma-separated, e.g. Man,Guitar,Table.")  # fmt: skip
@click.option("--per-class", type=click.IntRange(min=3), default=100, show_default=True,
              help="Images per class (all it has, when fewer).")  # fmt: skip
@click.option("--split", default="80/10/10", show_default=True, callback=_split_option,
              help="TRAIN/VALIDATION/TEST percentages, three integers summing to 100.")  # fmt: skip
@click.option("--seed", type=int, required=True, help="Same seed, same data: same CSV.")
@click.option("--bucket-uri", default="gs://bdcc_open_images_dataset/images", show_default=True,
              help="Folder of the <ImageId>.jpg files.")  # fmt: skip
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the CSV here (default: standard output).")  # fmt: skip
@click.option("--labels", "labels_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every label of exactly the chosen images here, as ImageId,"
                   "Label rows (the course's image-labels.csv: oie import reads it).")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["automl", "manifest"]), default="automl",
              show_default=True, help="automl: the AutoML CSV; manifest: SUBSET/ImageId lines "
              "of the same images, for Open Images' downloader.py and FiftyOne.")  # fmt: skip
@click.option("--subsets", "subsets_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="manifest: a CSV with ImageID and Subset columns (Open "
              "Images' image files) saying where each image is.")  # fmt: skip
@click.option("--subset", type=click.Choice(SUBSETS), help="manifest: the Open Images subset "
              "of every chosen image, instead of --subsets.")  # fmt: skip
def automl_csv(names: str, per_class: int, split: tuple[int, int, int], seed: int,
               bucket_uri: str, output: Path | None, labels_path: Path | None, fmt: str,
               subsets_path: Path | None, subset: str | None) -> None:  # fmt: skip
    """An AutoML Vision CSV: random images per class, split TRAIN/VALIDATION/TEST.

    Rows are `SET,BUCKET-URI/<ImageId>.jpg,Label`, no header; a label is the class name
    with anything but letters and digits as `_` (an exported model shows `_` as spaces).
    Images are drawn at random, reproducibly from --seed. An image carrying two of the
    classes is listed ONCE, under one class: classes are drawn rarest first, and an image
    drawn for a rarer class is left out of the commoner classes' pools, so no image lands
    in two sets (no leak between TRAIN and TEST). Overlaps resolved, and classes with fewer
    images than --per-class, are reported on standard error.

    --format manifest writes the same draw as `SUBSET/ImageId` lines instead, SUBSET being
    the Open Images subset (train, validation, test) an image is kept in, which is what
    downloader.py fetches from. The course data does not record it: name a CSV with ImageID
    and Subset columns (--subsets, e.g. Open Images' image files) or one for all (--subset).
    """
    import csv

    from .dataset import automl, subsets
    from .warehouse import WarehouseError

    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        raise click.BadParameter("name at least one class", param_hint="--classes")
    if fmt == "manifest" and (subsets_path is None) == (subset is None):
        raise click.UsageError(
            "--format manifest needs the Open Images subset of each image (where downloader.py "
            "fetches it from), which the imported data does not record: name a CSV with "
            "ImageID and Subset columns with --subsets FILE, or one subset for all with "
            "--subset" + ("" if subsets_path is None else ", not both")
        )
    if fmt != "manifest" and (subsets_path or subset):
        raise click.UsageError("--subsets and --subset go with --format manifest")
    from .local.host import AUTOML_PATH

    asked: dict[str, Any] = {
        "names": wanted, "per_class": per_class, "split": list(split), "seed": seed,
        "bucket_uri": bucket_uri, "labels": labels_path is not None,
    }  # fmt: skip
    stack = _stack()
    try:
        if stack is not None:  # it holds the warehouse: ask it
            made = automl.Export(**_ask_stack(stack, AUTOML_PATH, asked))
        else:
            tick = _bar("drawing", len(wanted), unit="class")
            app = current()
            made = automl.export(app.warehouse, app.explorer.catalog, **asked, progress=tick)
    except automl.UnknownClasses as exc:
        raise click.UsageError(exc.describe()) from exc
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except WarehouseError as exc:
        raise click.ClickException(_with_hint(exc)) from exc
    for line in made.report:
        click.echo(line, err=True)
    lines: list[str] | None = None
    if subset is not None:
        lines = subsets.manifest(made.images, subset)
    elif subsets_path is not None:
        size = subsets_path.stat().st_size
        try:
            found = subsets.read_subsets(subsets_path, made.images,
                                         _bar(f"reading {subsets_path.name}", size))  # fmt: skip
        except subsets.SubsetError as exc:
            raise click.ClickException(str(exc)) from exc
        lines = subsets.manifest(made.images, found)
    out = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        if lines is None:
            csv.writer(out, lineterminator="\n").writerows(made.rows)
        else:
            out.writelines(line + "\n" for line in lines)
    finally:
        if output:
            out.close()
    if output:
        click.echo(
            f"wrote {len(made.rows)} {'rows' if lines is None else 'lines'} to {output}", err=True
        )
    if labels_path is not None and made.labels is not None:
        with labels_path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(("ImageId", "Label"))
            writer.writerows(made.labels)
        click.echo(f"wrote {len(made.labels)} labels of {len(made.rows)} images to "
                   f"{labels_path}", err=True)  # fmt: skip


if __name__ == "__main__":
    main()
