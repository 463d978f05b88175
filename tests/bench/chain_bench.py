"""Upload-to-row latency and throughput through the production-shaped chain on emulators:
google-cloud-storage uploads to fake-gcs-server, its notifications through the gcloud
Pub/Sub emulator, a push subscription to classify_tflite on `oie serve`, rows read back
from `results`. Writes the `chain` section of BENCHMARKS.md."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

from pipeline_bench import (
    ROOT,
    all_results,
    bench_env,
    import_demo,
    parse_time,
    percentile,
    photos,
    serving,
)
from report import machine, write_section

sys.path.insert(0, str(ROOT))
from tests.support.gcs_emulator import gcs_emulator
from tests.support.pubsub_emulator import pubsub_emulator

PROJECT, TOPIC, BUCKET = "oie-bench", "classify-requests", "bench-photos"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--rate", type=float, default=60.0, help="uploads per second")
    parser.add_argument("--assets", type=Path, default=ROOT.parent / "shared" / "assets")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import pubsub_v1, storage

    sources = photos(args.assets)
    with tempfile.TemporaryDirectory(prefix="oie-chain-bench-") as tmp, \
            pubsub_emulator(PROJECT) as ps, gcs_emulator(ps, PROJECT, TOPIC) as gcs:  # fmt: skip
        data = Path(tmp) / "data"
        env = bench_env(data, args.assets)
        env.update(PUBSUB_EMULATOR_HOST=ps, STORAGE_EMULATOR_HOST=gcs, OIE_BUCKET=BUCKET,
                   GOOGLE_CLOUD_PROJECT=PROJECT)  # fmt: skip
        import_demo(env, Path(tmp))
        os.environ["PUBSUB_EMULATOR_HOST"] = ps
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(PROJECT, TOPIC)
        publisher.create_topic(name=topic)
        client = storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                                client_options=ClientOptions(api_endpoint=gcs))  # fmt: skip
        bucket = client.create_bucket(BUCKET)
        picks = [sources[i % len(sources)] for i in range(args.files)]
        payloads = [(f"in/{i:05d}{src.suffix}", src.read_bytes()) for i, src in enumerate(picks)]
        uploaded: dict[str, float] = {}
        with serving(env, Path(tmp), Path(tmp) / "serve.log") as (base, _pgid):
            subscriber.create_subscription(
                name=subscriber.subscription_path(PROJECT, "classify-tflite"), topic=topic,
                push_config=pubsub_v1.types.PushConfig(push_endpoint=f"{base}/classify_tflite"),
            )  # fmt: skip
            start = time.time()
            for i, (name, body) in enumerate(payloads):
                time.sleep(max(0.0, start + i / args.rate - time.time()))
                bucket.blob(name).upload_from_string(body)
                uploaded[name] = time.time()
            deadline = time.time() + 300
            while True:
                rows = all_results(base)
                if len(rows) >= args.files or time.time() > deadline:
                    break
                time.sleep(0.5)
    done = {r["object"]: parse_time(r["classified_at"]) + r["latency_ms"] / 1000 for r in rows}
    latency = [done[n] - uploaded[n] for n in uploaded if n in done]
    throughput = len(done) / (max(done.values()) - start) if done else 0.0
    ok = sum(r["status"] == "ok" for r in rows)
    p50, p95 = percentile(latency, 50) * 1000, percentile(latency, 95) * 1000
    worst = max(latency) * 1000
    command = f"python tests/bench/chain_bench.py --files {args.files} --rate {args.rate:g}"
    text = f"""<!-- bench:chain:start -->
## Pipeline through the emulator chain

`{command}` on {datetime.date.today().isoformat()}; {machine()}.
{args.files} typical photos uploaded with google-cloud-storage to fake-gcs-server at
{args.rate:g}/s; its OBJECT_FINALIZE notifications go through the gcloud Pub/Sub emulator
to a push subscription on `classify_tflite` served by `oie serve`. Upload-to-row = the row's
`classified_at` + `latency_ms` (end of inference) minus the end of the upload call.

| files | rows | ok | throughput files/s | upload→row p50 ms | p95 ms | max ms |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| {args.files} | {len(rows)} | {ok} | {throughput:.1f} | {p50:.0f} | {p95:.0f} | {worst:.0f} |

No targets are set for this path; it shows what the emulators add to the local stack's.
<!-- bench:chain:end -->
"""
    print(text)
    if not args.no_write:
        write_section("chain", text)


if __name__ == "__main__":
    main()
