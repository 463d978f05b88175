"""The command line: `oie provision` and `python -m infra.provision` (deploy.sh's), one
set of options whose defaults come from the settings (the environment, or .env)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import settings as settings_mod
from ..settings import Settings
from . import run
from .config import Config, ProvisionError

PROG = "python -m infra.provision"


def config_of(project: str, location: str, bucket: str, data_bucket: str, dataset: str,
              topic: str, dead_letter_topic: str, csv_dir: Path | None, reload_data: bool,
              s: Settings) -> Config:  # fmt: skip
    """The Config of the options, each default filled in from `s`."""
    project = (project or s.project).strip()
    if not project:
        raise ProvisionError("no project: pass --project or set GOOGLE_CLOUD_PROJECT")
    # An unset OIE_BUCKET reads as the local stack's bucket name; Cloud Storage names are
    # global, so here (as in deploy.sh) the default is PROJECT-oie-images.
    bucket = bucket or (s.bucket if s.bucket != Settings.bucket else f"{project}-oie-images")
    topic = topic or s.topic
    return Config(
        project=project,
        location=location,
        bucket=bucket,
        data_bucket=data_bucket or s.data_bucket or f"{bucket}-data",
        dataset=dataset or s.bq_dataset,
        topic=topic,
        dead_letter_topic=dead_letter_topic or f"{topic}-dead-letter",
        csv_dir=csv_dir,
        reload_data=reload_data,
    )


@click.command("provision", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--project", default="", help="Project id (default: GOOGLE_CLOUD_PROJECT).")
@click.option("--location", required=True, help="Region, e.g. us-central1.")
@click.option("--bucket", default="", help="Images bucket, uploads there are classified "
              "(default: OIE_BUCKET, else PROJECT-oie-images).")  # fmt: skip
@click.option("--data-bucket", default="", help="Bucket of the CSVs BigQuery loads "
              "(default: OIE_DATA_BUCKET, else BUCKET-data).")  # fmt: skip
@click.option("--dataset", default="",
              help="BigQuery dataset (default: OIE_BQ_DATASET, else openimages).")  # fmt: skip
@click.option("--topic", default="", help="Topic of classify requests "
              "(default: OIE_TOPIC, else classify-requests).")  # fmt: skip
@click.option("--dead-letter-topic", default="",
              help="Its dead-letter topic (default: TOPIC-dead-letter).")  # fmt: skip
@click.option("--csv-dir", type=click.Path(path_type=Path), help="Folder with classes.csv, "
              "image-labels.csv, relations.csv (default: OIE_ASSETS/openimages, else "
              "downloaded).")  # fmt: skip
@click.option("--reload-data", is_flag=True,
              help="Load the CSVs again even into tables that have rows.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Print each step, contact nothing.")
def command(project: str, location: str, bucket: str, data_bucket: str, dataset: str,
            topic: str, dead_letter_topic: str, csv_dir: Path | None, reload_data: bool,
            dry_run: bool) -> None:  # fmt: skip
    """Create or fix the buckets, topics, dataset, tables and data of the explorer on Google
    Cloud (or its emulators). Safe to run again; deletes nothing.

    STORAGE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST and OIE_BQ_ENDPOINT point it at emulators.
    """
    s = settings_mod.load()
    try:
        config = config_of(project, location, bucket, data_bucket, dataset, topic,
                           dead_letter_topic, csv_dir, reload_data, s)  # fmt: skip
        if dry_run:
            for line in run.dry_run(config, s):
                click.echo(line)
        else:
            run.provision(config, report=lambda outcome: click.echo(str(outcome)), settings=s)
    except ProvisionError as exc:
        raise click.ClickException(str(exc)) from exc


def main(argv: list[str] | None = None) -> int:
    """`python -m infra.provision`: the exit code; a failure is one line on stderr, code 1."""
    try:
        code = command.main(argv, prog_name=PROG, standalone_mode=False)
    except click.UsageError as exc:
        print(f"provision: error: {exc.format_message()} (see --help)", file=sys.stderr)
        return 1
    except click.ClickException as exc:
        print(f"provision: error: {exc.format_message()}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0
