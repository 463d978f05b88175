#!/usr/bin/env bash
# Deploy Open Images Explorer to Google Cloud: build one bundle per function, provision the
# bucket, topics, dataset, tables and service accounts (safe to run again), deploy every
# function with its trigger. See "Deploy to Google Cloud" in README.md.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'EOF'
Usage: ./deploy.sh [deploy|build|teardown] [options]

  deploy      build, provision and deploy every function (the default)
  build       only build the bundles under build/NAME
  teardown    remove the functions, triggers, topics, notification and service accounts;
              the bucket and dataset stay unless --delete-data

Options:
  --dry-run          build the bundles (without the model), print every cloud command, run
                     none; needs no network
  --only NAME        this function alone (repeatable); provisioning still runs
  --public-uploads   let anyone call image_classify, label_detection and results (each
                     upload is a billed Cloud Vision call: see README)
  --reload-data      load the CSVs into BigQuery again even if the tables have rows
  --delete-data      teardown also deletes the buckets and the dataset
  -h, --help         this text

Settings, from the environment or a .env file beside this script:
  GOOGLE_CLOUD_PROJECT (required), OIE_REGION (us-central1), OIE_BUCKET (PROJECT-oie-images),
  OIE_DATA_BUCKET (BUCKET-data), OIE_BQ_DATASET (openimages), OIE_TOPIC (classify-requests),
  OIE_MODEL / OIE_MODEL_LABELS (default: the demo MobileNet), OIE_ASSETS,
  OIE_BUILD_DIR (build), OIE_FUNCTIONS_DIR (functions: the manifest functions.toml and a
  folder per function); from the environment only: OIE_PYTHON (.venv/bin/python),
  OIE_ENV_FILE (.env)
EOF
}

die() { echo "deploy.sh: $*" >&2; exit 2; }

# --- arguments ---------------------------------------------------------------------------
ACTION=deploy DRY_RUN=false PUBLIC_UPLOADS=false RELOAD_DATA=false DELETE_DATA=false
ONLY=()
while (($#)); do
  case $1 in
    deploy | build | teardown) ACTION=$1 ;;
    --dry-run) DRY_RUN=true ;;
    --only) [[ $# -ge 2 ]] || die "--only needs a function name"; ONLY+=("$2"); shift ;;
    --only=*) ONLY+=("${1#--only=}") ;;
    --public-uploads) PUBLIC_UPLOADS=true ;;
    --reload-data) RELOAD_DATA=true ;;
    --delete-data) DELETE_DATA=true ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done

# --- settings: the environment wins over .env (read by oie.settings, as the functions do) ---
PYTHON=${OIE_PYTHON:-.venv/bin/python}
ensure_python() {
  if [[ ! -x $PYTHON ]]; then
    [[ $PYTHON == .venv/bin/python ]] || die "OIE_PYTHON=$PYTHON is not an executable"
    echo "installing the project into .venv (make install)..."
    make install
  fi
}
ensure_python
ENV_FILE=${OIE_ENV_FILE:-.env}
exports=$("$PYTHON" -m oie.settings exports "$ENV_FILE") || die "cannot read $ENV_FILE"
eval "$exports"
PROJECT=${GOOGLE_CLOUD_PROJECT:-${OIE_BQ_PROJECT:-}}
[[ -n $PROJECT ]] || die "set GOOGLE_CLOUD_PROJECT (in the environment or .env)"
[[ $PROJECT =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] || die "GOOGLE_CLOUD_PROJECT=$PROJECT is not a project id"
REGION=${OIE_REGION:-us-central1}
BUCKET=${OIE_BUCKET:-$PROJECT-oie-images}
DATA_BUCKET=${OIE_DATA_BUCKET:-$BUCKET-data}
DATASET=${OIE_BQ_DATASET:-openimages}
TOPIC=${OIE_TOPIC:-classify-requests}
DEAD_LETTER_TOPIC=$TOPIC-dead-letter
BUILD=${OIE_BUILD_DIR:-build}
BASE_URL=https://$REGION-$PROJECT.cloudfunctions.net

# --- the functions -----------------------------------------------------------------------
# Service accounts, one per role, each with only what its functions do:
#   query       read the dataset, run query jobs
#   results     the same, and read objects (the page of an upload shows its thumbnail)
#   upload      create objects (the upload stays in the bucket, so the pipeline records it)
#   classifier  read objects, read the dataset, append to classifications, run query jobs;
#               Cloud Vision needs its API enabled, no role
#   builder     Cloud Build's identity while it builds the functions' containers
# Concurrency is the number of threads (THREADS) of one instance; the TFLite functions keep
# one interpreter per thread, so their concurrency costs memory, not safety.
#
# Each function's line, from functions/functions.toml (the manifest):
# name trigger memory cpu concurrency max timeout account access model
FUNCTIONS_DIR=${OIE_FUNCTIONS_DIR:-functions}
FUNCTIONS=$("$PYTHON" -m oie.manifest table "$FUNCTIONS_DIR") || die "cannot read the manifest"
MODEL_FUNCTIONS=" $(awk '$10 == "yes" { printf "%s ", $1 }' <<<"$FUNCTIONS")"
ROLES="query results upload classifier builder"

all_names() { awk 'NF { print $1 }' <<<"$FUNCTIONS"; }
spec() { awk -v n="$1" '$1 == n' <<<"$FUNCTIONS"; }
account() { echo "oie-$1@$PROJECT.iam.gserviceaccount.com"; }

SELECTED=()
if ((${#ONLY[@]})); then
  for name in "${ONLY[@]}"; do
    [[ -n $(spec "$name") ]] || die "--only $name: no such function; known: $(all_names | xargs)"
    SELECTED+=("$name")
  done
else
  mapfile -t SELECTED < <(all_names)
fi

# --- running commands --------------------------------------------------------------------
# run: print a command (quoted for a POSIX shell, ready to copy), then run it unless
# --dry-run. lookup: a read-only command whose output a later command needs; under
# --dry-run it prints and yields a placeholder. Failures are told apart by what the command
# said (kept in ERR_LOG): only "not found" lets a delete or a describe go on, and only what
# time mends is retried.
ERR_LOG=$(mktemp)
trap 'rm -f "$ERR_LOG"' EXIT
# IAM is eventually consistent (Google: typically 2 minutes, at times 7 or more), and a new
# project's Eventarc and Pub/Sub service agents get their roles as the first trigger is made.
# OIE_RETRY_WAITS (seconds between tries) is shortened by the tests.
read -r -a RETRY_WAITS <<<"${OIE_RETRY_WAITS:-10 20 30 60 120 180}"
NOT_KNOWN_YET='does not exist|not found|NOT_FOUND|Eventarc Service Agent|PERMISSION_DENIED|[Pp]ermission denied'
GONE='NOT_FOUND|[Nn]ot found|does not exist|404|not a member'
# An organization with domain-restricted sharing forbids allUsers in any policy.
ORG_POLICY='permitted customer|allowedPolicyMemberDomains|organization policy'
quote() {
  local arg out=()
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
      out+=("$arg")
    else
      out+=("'${arg//\'/\'\\\'\'}'")
    fi
  done
  echo "+ ${out[*]}"
}
run() {
  quote "$@"
  if ! $DRY_RUN; then "$@"; fi
}
# attempt CMD...: run it, its stderr shown and kept in ERR_LOG; its exit status.
attempt() {
  local status=0
  "$@" 2>"$ERR_LOG" || status=$?
  cat "$ERR_LOG" >&2
  return "$status"
}
# retrying CMD...: run it; while it fails with an error that time mends, wait and try again.
retrying() {
  quote "$@"
  if $DRY_RUN; then return 0; fi
  local wait
  for wait in "${RETRY_WAITS[@]}"; do
    attempt "$@" && return 0
    grep -Eq "$NOT_KNOWN_YET" "$ERR_LOG" || return 1
    echo "  (not known yet to IAM; retrying in ${wait}s)"
    sleep "$wait"
  done
  attempt "$@"
}
lookup() {
  local placeholder=$1; shift
  if $DRY_RUN; then
    quote "$@" >&2
    echo "$placeholder"
  else
    "$@"
  fi
}
# exists CMD...: a describe; 0 if found, 1 if not found, and any other failure stops here.
exists() {
  if $DRY_RUN; then return 1; fi
  "$@" >/dev/null 2>"$ERR_LOG" && return 0
  grep -Eq "$GONE" "$ERR_LOG" && return 1
  cat "$ERR_LOG" >&2
  die "cannot tell whether it exists: $(quote "$@")"
}
# remove CMD...: a delete that may find nothing (teardown run twice, or after a failed
# deploy); any other failure stops teardown.
remove() {
  quote "$@"
  if $DRY_RUN; then return 0; fi
  attempt "$@" && return 0
  grep -Eq "$GONE" "$ERR_LOG" || return 1
  echo "  (nothing to remove)"
}
step() { echo; echo "== $*"; }

# --- bundles -----------------------------------------------------------------------------
build_model() { "$PYTHON" -m oie.cli model --copy-to "$BUILD/.model"; }

build_bundle() {
  local name=$1 dir=$BUILD/$1
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$FUNCTIONS_DIR/$name/main.py" "$FUNCTIONS_DIR/$name/requirements.txt" "$dir/"
  cp -R shared/oie "$dir/oie"
  find "$dir" -name __pycache__ -prune -exec rm -rf {} +
  # the local host, its watcher and provisioning never run on Cloud Functions
  rm -rf "$dir/oie/local" "$dir/oie/provision"
  mkdir -p "$dir/oie/schemas"
  cp infra/schemas/*.json "$dir/oie/schemas/"
  if [[ $MODEL_FUNCTIONS == *" $name "* ]] && ! $DRY_RUN; then
    mkdir -p "$dir/model"
    cp "$BUILD/.model/model.tflite" "$BUILD/.model/dict.txt" "$dir/model/"
  fi
  echo "built $dir ($(du -sk "$dir" | cut -f1) KiB)"
}

build_all() {
  step "bundles"
  rm -rf "$BUILD/.model"
  for name in "${SELECTED[@]}"; do
    if [[ $MODEL_FUNCTIONS == *" $name "* ]]; then
      # A dry run needs no network: the model (perhaps a download) is left out.
      if $DRY_RUN; then quote build_model "$BUILD/.model"; else build_model; fi
      break
    fi
  done
  for name in "${SELECTED[@]}"; do build_bundle "$name"; done
}

# --- provisioning ------------------------------------------------------------------------
enable_apis() {
  step "APIs"
  run gcloud services enable --project="$PROJECT" \
    cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com \
    artifactregistry.googleapis.com eventarc.googleapis.com pubsub.googleapis.com \
    storage.googleapis.com bigquery.googleapis.com vision.googleapis.com \
    logging.googleapis.com iam.googleapis.com
}

provision_data() {
  step "buckets, topics, dataset, tables, data (infra/provision.py)"
  local args=(--project="$PROJECT" --location="$REGION" --bucket="$BUCKET"
    --data-bucket="$DATA_BUCKET" --dataset="$DATASET" --topic="$TOPIC"
    --dead-letter-topic="$DEAD_LETTER_TOPIC")
  $RELOAD_DATA && args+=(--reload-data)
  # The client libraries bill calls to ADC's quota project, which may be another project.
  if $DRY_RUN; then
    quote "$PYTHON" -m infra.provision "${args[@]}"
    "$PYTHON" -m infra.provision "${args[@]}" --dry-run | sed 's/^/    /'
  else
    GOOGLE_CLOUD_QUOTA_PROJECT=$PROJECT run "$PYTHON" -m infra.provision "${args[@]}"
  fi
}

provision_accounts() {
  step "service accounts and their roles"
  local role
  for role in $ROLES; do
    if ! exists gcloud iam service-accounts describe "$(account "$role")" --project="$PROJECT"; then
      run gcloud iam service-accounts create "oie-$role" --project="$PROJECT" \
        --display-name="Open Images Explorer ($role)"
    fi
  done
  for role in query results classifier; do
    retrying gcloud projects add-iam-policy-binding "$PROJECT" --condition=None --quiet \
      --member="serviceAccount:$(account "$role")" --role=roles/bigquery.jobUser --format=none
  done
  # The build identity runs third-party `pip install`: it may write its logs, push images to
  # the functions' repository and read their sources, nothing else (the Cloud Build builder
  # role could write every bucket of the project).
  local builder condition
  builder="serviceAccount:$(account builder)"
  retrying gcloud projects add-iam-policy-binding "$PROJECT" --quiet --format=none \
    --member="$builder" --role=roles/logging.logWriter --condition=None
  condition="resource.name.startsWith(\"projects/$PROJECT/locations/$REGION/repositories/gcf-artifacts\")"
  retrying gcloud projects add-iam-policy-binding "$PROJECT" --quiet --format=none \
    --member="$builder" --role=roles/artifactregistry.writer \
    --condition="expression=$condition,title=oie-build-images"
  condition='resource.name.startsWith("projects/_/buckets/gcf-v2-sources-")'
  retrying gcloud projects add-iam-policy-binding "$PROJECT" --quiet --format=none \
    --member="$builder" --role=roles/storage.objectViewer \
    --condition="expression=$condition,title=oie-build-sources"
  retrying gcloud storage buckets add-iam-policy-binding "gs://$BUCKET" --project="$PROJECT" \
    --member="serviceAccount:$(account upload)" --role=roles/storage.objectCreator --format=none
  for role in results classifier; do
    retrying gcloud storage buckets add-iam-policy-binding "gs://$BUCKET" --project="$PROJECT" \
      --member="serviceAccount:$(account "$role")" --role=roles/storage.objectViewer --format=none
  done
  # Dataset and table grants in BigQuery's own DCL (GRANT is idempotent).
  retrying bq query --project_id="$PROJECT" --location="$REGION" --use_legacy_sql=false --quiet \
    "$(dataset_grants GRANT TO)"
}

# dataset_grants GRANT TO | REVOKE FROM: the dataset-level and table-level roles, as DCL.
dataset_grants() {
  local verb=$1 to=$2
  cat <<EOF
$verb \`roles/bigquery.dataViewer\` ON SCHEMA \`$PROJECT.$DATASET\`
  $to 'serviceAccount:$(account query)', 'serviceAccount:$(account results)',
     'serviceAccount:$(account classifier)';
$verb \`roles/bigquery.dataEditor\` ON TABLE \`$PROJECT.$DATASET.classifications\`
  $to 'serviceAccount:$(account classifier)';
EOF
}

provision_notification() {
  step "bucket notification: OBJECT_FINALIZE -> $TOPIC"
  local agent
  agent=$(lookup "service-PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com" \
    gcloud storage service-agent --project="$PROJECT")
  retrying gcloud pubsub topics add-iam-policy-binding "$TOPIC" --project="$PROJECT" \
    --member="serviceAccount:$agent" --role=roles/pubsub.publisher --format=none
  if [[ -n $(our_notifications) ]]; then
    echo "notification from gs://$BUCKET to $TOPIC: exists"
  else
    # The topic and its publisher grant are made above: --skip-topic-setup.
    run gcloud storage buckets notifications create "gs://$BUCKET" --project="$PROJECT" \
      --topic="projects/$PROJECT/topics/$TOPIC" --event-types=OBJECT_FINALIZE \
      --payload-format=json --skip-topic-setup
  fi
}

# The ids of the bucket's notification configs that publish to our topic (one per line).
# The list nests each config under "Notification Configuration".
our_notifications() {
  if $DRY_RUN; then return 0; fi
  gcloud storage buckets notifications list "gs://$BUCKET" --project="$PROJECT" \
    --format='value("Notification Configuration".id,"Notification Configuration".topic)' |
    awk -v topic="//pubsub.googleapis.com/projects/$PROJECT/topics/$TOPIC" '$2 == topic { print $1 }'
}

# --- functions ---------------------------------------------------------------------------
env_vars() {
  local name=$1 threads=$2
  local vars="OIE_WAREHOUSE=bigquery,OIE_BQ_PROJECT=$PROJECT,OIE_BQ_DATASET=$DATASET"
  vars+=",OIE_STORAGE=gcs,OIE_BUCKET=$BUCKET,OIE_EVENTS=pubsub,OIE_TOPIC=$TOPIC"
  vars+=",OIE_BASE_URL=$BASE_URL,OIE_DATA_DIR=/tmp/oie,THREADS=$threads"
  vars+=",OIE_UPLOADS_PUBLIC=$PUBLIC_UPLOADS"
  if [[ $MODEL_FUNCTIONS == *" $name "* ]]; then vars+=",OIE_MODEL=model/model.tflite"; fi
  echo "$vars"
}

STAYED_PRIVATE=()  # public functions an organization policy kept private

deploy_function() {
  local name trigger memory cpu concurrency max timeout role access
  read -r name trigger memory cpu concurrency max timeout role access _ <<<"$(spec "$1")"
  step "function $name"
  local args=(functions deploy "$name" --gen2 --runtime=python312 --project="$PROJECT"
    --region="$REGION" --source="$BUILD/$name" --entry-point="$name"
    --memory="$memory" --cpu="$cpu" --concurrency="$concurrency" --max-instances="$max"
    --timeout="${timeout}s" --service-account="$(account "$role")"
    --build-service-account="projects/$PROJECT/serviceAccounts/$(account builder)"
    --set-env-vars="$(env_vars "$name" "$concurrency")" --quiet)
  local public=false
  if [[ $trigger == topic ]]; then
    args+=(--trigger-topic="$TOPIC" --trigger-service-account="$(account "$role")" --retry)
  elif [[ $access == public || $PUBLIC_UPLOADS == true ]]; then
    args+=(--trigger-http --allow-unauthenticated)
    public=true
  else
    args+=(--trigger-http --no-allow-unauthenticated)
  fi
  # The function is deployed before allUsers is granted: when domain-restricted sharing
  # refuses that grant, the function is there, private, and the others still deploy.
  if ! retrying gcloud "${args[@]}"; then
    if $public && grep -Eq "$ORG_POLICY" "$ERR_LOG"; then
      STAYED_PRIVATE+=("$name")
      echo "  (an organization policy forbids allUsers: $name stays private)"
    else
      die "function $name was not deployed (see above)"
    fi
  fi
  if [[ $trigger == topic ]]; then wire_trigger "$name" "$role"; fi
}

# The trigger's push subscription: its account may invoke the function, and what it cannot
# deliver goes to the dead-letter topic instead of being dropped after a day.
wire_trigger() {
  local name=$1 role=$2 trigger subscription number
  retrying gcloud functions add-invoker-policy-binding "$name" --project="$PROJECT" \
    --region="$REGION" --member="serviceAccount:$(account "$role")" --format=none
  trigger=$(lookup "TRIGGER_OF_$name" gcloud functions describe "$name" --project="$PROJECT" \
    --region="$REGION" --format='value(eventTrigger.trigger)')
  subscription=$(lookup "SUBSCRIPTION_OF_$name" gcloud eventarc triggers describe "$trigger" \
    --project="$PROJECT" --location="$REGION" --format='value(transport.pubsub.subscription)')
  number=$(project_number)
  local agent="service-$number@gcp-sa-pubsub.iam.gserviceaccount.com"
  retrying gcloud pubsub topics add-iam-policy-binding "$DEAD_LETTER_TOPIC" --project="$PROJECT" \
    --member="serviceAccount:$agent" --role=roles/pubsub.publisher --format=none
  retrying gcloud pubsub subscriptions add-iam-policy-binding "$subscription" --project="$PROJECT" \
    --member="serviceAccount:$agent" --role=roles/pubsub.subscriber --format=none
  run gcloud pubsub subscriptions update "$subscription" --project="$PROJECT" \
    --dead-letter-topic="$DEAD_LETTER_TOPIC" --max-delivery-attempts=10 \
    --min-retry-delay=10s --max-retry-delay=600s
}

project_number() {
  lookup PROJECT_NUMBER gcloud projects describe "$PROJECT" --format='value(projectNumber)'
}

# --- teardown ----------------------------------------------------------------------------
# A function's build leaves its image in Artifact Registry (gcf-artifacts) and its source in
# the gcf-v2-sources bucket: both cost money, and both are removed with the function.
remove_function() {
  local name=$1 service bucket object image=
  if ! $DRY_RUN && ! exists gcloud functions describe "$name" --project="$PROJECT" \
    --region="$REGION"; then
    echo "function $name: nothing to remove"
    return
  fi
  # Read before the function goes. Its Cloud Run service is named by the function's
  # serviceConfig (image-info for image_info); a part already gone is skipped.
  read -r service bucket object < <(lookup \
    "services/${name//_/-} SOURCES_BUCKET SOURCE_OF_$name" \
    gcloud functions describe "$name" --project="$PROJECT" --region="$REGION" \
    --format='value(serviceConfig.service,buildConfig.source.storageSource.bucket,buildConfig.source.storageSource.object)') || true
  if [[ -n ${service:-} ]]; then
    image=$(lookup "$REGION-docker.pkg.dev/$PROJECT/gcf-artifacts/image-of-${name//_/-}:tag" \
      gcloud run services describe "${service##*/}" \
      --project="$PROJECT" --region="$REGION" \
      --format='value(spec.template.spec.containers[0].image)') || image=
  fi
  remove gcloud functions delete "$name" --gen2 --project="$PROJECT" --region="$REGION" --quiet
  if [[ -n $image ]]; then
    remove gcloud artifacts docker images delete "${image%[:@]*}" --project="$PROJECT" \
      --delete-tags --quiet
  fi
  if [[ -n ${bucket:-} && -n ${object:-} ]]; then
    remove gcloud storage rm "gs://$bucket/$object" --project="$PROJECT"
  fi
}

teardown() {
  local name role id
  for name in "${SELECTED[@]}"; do
    step "remove function $name"
    remove_function "$name"
  done
  if ((${#ONLY[@]})); then return; fi
  step "remove our notification, the topics, the grants and the service accounts"
  if $DRY_RUN; then
    remove gcloud storage buckets notifications delete \
      "projects/_/buckets/$BUCKET/notificationConfigs/NOTIFICATION_ID" --project="$PROJECT"
  else
    for id in $(our_notifications); do  # other notifications on the bucket stay
      remove gcloud storage buckets notifications delete \
        "projects/_/buckets/$BUCKET/notificationConfigs/$id" --project="$PROJECT"
    done
  fi
  remove gcloud pubsub subscriptions delete "$DEAD_LETTER_TOPIC-hold" --project="$PROJECT"
  remove gcloud pubsub topics delete "$TOPIC" "$DEAD_LETTER_TOPIC" --project="$PROJECT"
  for role in query results classifier; do
    remove gcloud projects remove-iam-policy-binding "$PROJECT" --all --quiet \
      --member="serviceAccount:$(account "$role")" --role=roles/bigquery.jobUser --format=none
  done
  for role in roles/logging.logWriter roles/artifactregistry.writer roles/storage.objectViewer; do
    remove gcloud projects remove-iam-policy-binding "$PROJECT" --all --quiet \
      --member="serviceAccount:$(account builder)" --role="$role" --format=none
  done
  if ! $DELETE_DATA; then  # the bucket and dataset stay: take the accounts' grants off them
    remove gcloud storage buckets remove-iam-policy-binding "gs://$BUCKET" --project="$PROJECT" \
      --member="serviceAccount:$(account upload)" --role=roles/storage.objectCreator --format=none
    for role in results classifier; do
      remove gcloud storage buckets remove-iam-policy-binding "gs://$BUCKET" \
        --project="$PROJECT" --member="serviceAccount:$(account "$role")" \
        --role=roles/storage.objectViewer --format=none
    done
    remove bq query --project_id="$PROJECT" --location="$REGION" --use_legacy_sql=false \
      --quiet "$(dataset_grants REVOKE FROM)"
  fi
  for role in $ROLES; do
    remove gcloud iam service-accounts delete "$(account "$role")" --project="$PROJECT" --quiet
  done
  if $DELETE_DATA; then
    step "delete the data (--delete-data)"
    remove gcloud storage rm --recursive "gs://$BUCKET" "gs://$DATA_BUCKET" --project="$PROJECT"
    remove bq rm --recursive --force --dataset "$PROJECT:$DATASET"
  else
    echo
    echo "kept: gs://$BUCKET, gs://$DATA_BUCKET and dataset $PROJECT:$DATASET (--delete-data removes them)"
  fi
  if ! $DRY_RUN; then rm -rf "$BUILD"; fi
}

# --- main --------------------------------------------------------------------------------
$DRY_RUN && echo "# dry run: nothing below is run; PLACEHOLDERS stand for values read from the project"
echo "# project $PROJECT, region $REGION, bucket gs://$BUCKET, dataset $DATASET, topic $TOPIC"
case $ACTION in
  build) build_all ;;
  teardown) teardown ;;
  deploy)
    build_all
    enable_apis
    provision_data
    provision_accounts
    provision_notification
    for name in "${SELECTED[@]}"; do deploy_function "$name"; done
    step "done"
    echo "explorer: $BASE_URL/index"
    if ((${#STAYED_PRIVATE[@]})); then
      echo "deploy.sh: deployed, but your organization's policy (domain-restricted sharing)" \
        "forbids public access: ${STAYED_PRIVATE[*]} stay private; see README" >&2
      exit 3
    fi
    ;;
esac
