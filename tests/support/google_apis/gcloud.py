"""An isolated gcloud (and bq) configuration whose every endpoint is one base URL."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

# `api_endpoint_overrides/<api>` for every API deploy.sh reaches. Cloud Storage's override is
# its full JSON API root; bq takes the bigquery one as its `--api` and reads the discovery
# document from there.
APIS = ("pubsub", "iam", "cloudresourcemanager", "serviceusage", "cloudfunctions", "eventarc",
        "run", "cloudbuild", "artifactregistry")  # fmt: skip


def endpoints(url: str) -> dict[str, str]:
    found = {api: f"{url}/{api}/" for api in APIS}
    return found | {"storage": f"{url}/storage/v1/", "bigquery": f"{url}/"}


def configure(folder: Path, url: str) -> dict[str, str]:
    """Make `folder` a CLOUDSDK_CONFIG with no account and no project, talking to `url`
    without credentials; the environment that selects it is returned.

    `auth/disable_credentials` covers gcloud; the bq wrapper still loads a credential, so an
    access token file is set too (its token is sent to the fake, which ignores it).
    """
    folder.mkdir(parents=True, exist_ok=True)
    token = folder / "fake-token"
    token.write_text("fake-token\n")
    env = {"CLOUDSDK_CONFIG": str(folder), "HOME": str(folder), "PATH": "/usr/bin:/bin",
           "BIGQUERYRC": str(folder / "bigqueryrc")}  # fmt: skip
    settings = {"auth/disable_credentials": "true", "auth/access_token_file": str(token),
                "core/disable_usage_reporting": "true",
                "component_manager/disable_update_check": "true"}  # fmt: skip
    settings |= {f"api_endpoint_overrides/{api}": u for api, u in endpoints(url).items()}
    # Cloud Run's client puts the region before the override's host (europe-west1-127.0.0.1),
    # which no resolver knows: every request goes through the fake as an HTTP proxy, so no
    # name is looked up, and nothing can reach Google (HTTPS needs CONNECT, which it refuses).
    proxy = urlsplit(url)
    settings |= {"proxy/type": "http", "proxy/address": str(proxy.hostname),
                 "proxy/port": str(proxy.port)}  # fmt: skip
    # what `gcloud config set NAME VALUE` writes, one call instead of one per property
    sections: dict[str, list[str]] = {}
    for name, value in settings.items():
        section, _, key = name.partition("/")
        sections.setdefault(section, []).append(f"{key} = {value}")
    (folder / "configurations").mkdir(exist_ok=True)
    (folder / "active_config").write_text("default")
    (folder / "configurations" / "config_default").write_text(
        "".join(f"[{s}]\n" + "\n".join(lines) + "\n\n" for s, lines in sections.items())
    )
    check = ["gcloud", "config", "list", "--format=value(auth.disable_credentials)"]
    listed = subprocess.run(check, env=env, capture_output=True, text=True, timeout=60)
    assert listed.stdout.strip().lower() == "true", listed.stderr
    return env
