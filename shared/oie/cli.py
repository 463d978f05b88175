"""The `oie` command: import the data, serve the local stack, check what is loaded."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from . import adapters, settings
from .tables import DERIVED, SCHEMAS


def _bar(label: str, total: int | None) -> Callable[[int], None]:
    from tqdm import tqdm

    bar = tqdm(total=total or None, desc=label, unit="B", unit_scale=True, leave=False,
               disable=None, file=sys.stderr)  # fmt: skip
    return bar.update


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Open Images Explorer: browse Open Images and classify images, locally or on Google Cloud.

    Settings come from the environment (or .env): OIE_ASSETS, OIE_DATA_DIR, OIE_WAREHOUSE, ...
    """


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

    s = settings.get()
    files = {
        t: p for t, p in (("classes", classes), ("image_labels", labels),
                          ("relations", relations)) if p
    }  # fmt: skip
    try:
        if demo:
            files = demo_files(s.assets, s.data_dir / "downloads", s.data_url,
                               progress=lambda name: lambda n, total: None)  # fmt: skip
            files.update({t: p for t, p in (("classes", classes), ("image_labels", labels),
                                             ("relations", relations)) if p})  # fmt: skip
        if not files:
            raise click.UsageError(
                "name files to import (--classes/--labels/--relations) or --demo"
            )
        reports = import_files(adapters.warehouse(), files, s.data_dir / "tmp", progress=_bar)
    except (ImportFailed, DownloadFailed) as exc:
        raise click.ClickException(str(exc)) from exc
    for report in reports:
        click.echo(report.summary())
    click.echo(f"derived: {', '.join(d.name for d in DERIVED)} ({adapters.warehouse().name})")


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
        classifier = adapters.classifier()
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
def status() -> None:
    """Rows in each table of the warehouse."""
    wh = adapters.warehouse()
    for table in (*SCHEMAS, *(d.name for d in DERIVED)):
        count = wh.row_count(table)
        click.echo(f"{table:20s} {'missing' if count is None else f'{count:,}'}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", 8080)),
              show_default="8080 or $PORT")  # fmt: skip
@click.option("--threads", type=int, default=8, show_default=True)
def serve(host: str, port: int, threads: int) -> None:
    """Serve every HTTP function at http://HOST:PORT/NAME."""
    from .local.host import serve as run

    click.echo(f"Open Images Explorer on http://{host}:{port}/  (Ctrl-C stops)", err=True)
    run(host, port, threads)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", 8080)),
              show_default="8080 or $PORT")  # fmt: skip
@click.pass_context
def demo(ctx: click.Context, host: str, port: int) -> None:
    """Import the demo data if the warehouse has none, then serve."""
    wh = adapters.warehouse()
    if any(wh.row_count(d.name) is None for d in DERIVED):
        ctx.invoke(import_, demo=True)
    adapters.reset()  # the server opens its own connection
    ctx.invoke(serve, host=host, port=port)


if __name__ == "__main__":
    main()
