"""Provision the explorer's data plane on Google Cloud, or on its emulators; safe to run again.

    oie provision --project P --location us-central1 [--bucket B] [--data-bucket D]
        [--dataset openimages] [--topic T] [--dead-letter-topic T-dead-letter]
        [--csv-dir DIR] [--reload-data] [--dry-run]

(`python -m infra.provision`, as deploy.sh runs it, is the same command.) Creates what is
missing, fixes the settings it owns on what exists, never deletes anything:

1. buckets --bucket (uploads there are classified) and --data-bucket (the CSVs BigQuery loads)
   in --location, with uniform bucket-level access on and public access prevention enforced;
2. Pub/Sub topics --topic and --dead-letter-topic, and the subscription DEAD_LETTER_TOPIC-hold
   on the latter (7 days' retention, never expires): a topic without one drops dead letters;
3. the BigQuery dataset --dataset in --location;
4. the tables of infra/schemas/*.json, and on existing tables the columns the JSON adds;
5. the course CSVs, staged as gs://DATA_BUCKET/openimages/NAME.csv unless the md5 matches;
6. classes, image_labels and relations loaded from there, unless they have rows already
   (--reload-data loads them again);
7. the derived tables (oie.tables.DERIVED), rebuilt after a load or when one is missing.

Each of these is a `Step` (steps.py) that describes itself for the dry run and applies
itself, made per service by storage.py, pubsub.py and bigquery.py; `run.plan` lists them
in order, so the dry run shows exactly what a run does. BigQuery work goes through the
project's adapter (oie.warehouse.bigquery_adapter), which creates tables from their JSON as
the classifiers do. IAM, service accounts, the bucket notification and the functions are
deploy.sh's business. Never part of a function's bundle.
"""

from .config import Config, ProvisionError
from .run import dry_run, plan, provision
from .steps import Outcome, Run, Step

__all__ = ["Config", "Outcome", "ProvisionError", "Run", "Step", "dry_run", "plan", "provision"]
