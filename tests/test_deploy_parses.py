"""Every command deploy.sh can run parses under the real gcloud and bq: each command a dry
run prints (deploy and teardown) is fed to them with no default project. A usage error
fails; an answer from the fake (404 to everything) is fine.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import google_apis
from tests.support.google_apis import gcloud
from tests.test_deploy import Run
from tests.test_deploy_gcloud import deploy_env, run_deploy

pytestmark = pytest.mark.deploy

USAGE = re.compile(
    r"ERROR: \(gcloud[^)]*\) argument|unrecognized arguments|Invalid choice|Invalid resource name|"
    r"required property \[project\] is not currently set|"
    r"FATAL Flags parsing error|Unknown command line flag"
)


@pytest.fixture(scope="module")
def offline(gcloud_ok: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """gcloud whose every endpoint answers 404 at once: it parses its arguments and checks
    its properties, then fails on the first answer. (A closed port would do as well, but
    gcloud retries a refused connection for about 30 s.)"""
    with google_apis.FakeGoogle([]) as nothing:
        yield gcloud.configure(tmp_path_factory.mktemp("offline-gcloud"), nothing.url)


@pytest.mark.parametrize("action", ["deploy", "teardown"])
def test_every_dry_run_command_parses(offline, tmp_path: Path, action: str) -> None:
    dry = run_deploy(deploy_env(offline, tmp_path), action, "--dry-run")
    assert dry.code == 0, dry.err
    commands = [c for c in dry.commands + Run(0, dry.err, "", []).commands
                if c[0] in ("gcloud", "bq")]  # fmt: skip
    assert len(commands) > 20

    def judge(command: list[str]) -> str | None:
        done = subprocess.run(command, env=offline, capture_output=True, text=True, timeout=120)
        if done.returncode == 2 or USAGE.search(done.stderr):
            return f"{' '.join(command)[:160]}\n  -> {done.stderr.strip()[-400:]}"
        return None

    with ThreadPoolExecutor(2) as pool:
        refused = [r for r in pool.map(judge, commands) if r]
    assert not refused, "\n".join(refused)
