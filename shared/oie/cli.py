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
