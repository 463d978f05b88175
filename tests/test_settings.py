"""Settings: every variable read in one place; `.env` applied once, at start, the same way
for the functions and for deploy.sh; the environment wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from oie.settings import SettingError, Settings, env_file_values, shell_exports

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = {
    "SPACES": "a b  c",
    "SUBSHELL": "$(touch pwned)",
    "BACKTICK": "`touch pwned`",
    "QUOTE": "it's",
    "DOUBLE": 'say "hi"',
    "HASH": "x # not a comment inside quotes",
}


def _python(code: str, cwd: Path, **env: str) -> str:
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("OIE_")} | env
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=run_env,
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return done.stdout.strip()


def test_dotenv_is_applied_before_the_first_client_is_made(tmp_path: Path) -> None:
    """The first label_detection request sees a .env endpoint, as every later one does."""
    (tmp_path / ".env").write_text(
        "OIE_VISION_ENDPOINT=http://127.0.0.1:9\nOIE_BQ_DATASET=from_dotenv\nPORT=9123\n"
    )
    code = (
        "from oie.app import current\n"
        "app = current()\n"
        "print(app.vision.endpoint, app.settings.bq_dataset, app.settings.port)"
    )
    assert _python(code, tmp_path) == "http://127.0.0.1:9 from_dotenv 9123"
    assert _python(code, tmp_path, OIE_BQ_DATASET="from_env").split()[1] == "from_env"


def test_deploy_sh_reads_env_file_values_as_python_does(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}='{v}'\n" if "'" not in v else f'{k}="{v}"\n'
                                for k, v in HOSTILE.items()))  # fmt: skip
    assert env_file_values(env_file) == HOSTILE
    script = f"""eval "$({sys.executable} -m oie.settings exports {env_file})"
for k in {" ".join(HOSTILE)}; do printf '%s=%s\\n' "$k" "${{!k}}"; done"""
    env = {k: v for k, v in os.environ.items() if k not in HOSTILE}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    assert done.stdout.splitlines() == [f"{k}={v}" for k, v in HOSTILE.items()]
    assert not (tmp_path / "pwned").exists()


def test_the_environment_wins_over_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OIE_BUCKET=from-file\nOIE_TOPIC=from-file\n")
    exports = shell_exports(env_file, {"OIE_BUCKET": "from-env"})
    assert exports == "export OIE_TOPIC=from-file\n"
    assert shell_exports(tmp_path / "missing.env") == ""


def test_every_variable_has_its_field() -> None:
    env = {
        "GOOGLE_CLOUD_PROJECT": "p1", "OIE_BQ_PROJECT": "p2", "OIE_VISION_ENDPOINT": "v:1",
        "OIE_FUNCTIONS_DIR": "/f", "PORT": "8181", "STORAGE_EMULATOR_HOST": "http://s:1",
        "PUBSUB_EMULATOR_HOST": "p:2",
    }  # fmt: skip
    s = Settings.from_env(env)
    assert (s.project, s.bq_project, s.warehouse_project) == ("p1", "p2", "p2")
    assert Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p1"}).warehouse_project == "p1"
    assert s.vision_endpoint == "v:1" and s.functions_dir == Path("/f") and s.port == 8181
    assert (s.storage, s.events) == ("gcs", "pubsub")  # an emulator picks its home
    assert (Settings.from_env({}).storage, Settings.from_env({}).events) == ("folder", "local")


@pytest.mark.parametrize("name", ["PORT", "OIE_BQ_TIMEOUT_S", "OIE_BQ_MAX_BYTES_BILLED"])
def test_a_number_that_is_not_one_is_named(name: str) -> None:
    with pytest.raises(SettingError, match=f"{name}='twelve' is not a number"):
        Settings.from_env({name: "twelve"})


def test_only_settings_reads_the_environment() -> None:
    readers = []
    for path in [*(ROOT / "shared" / "oie").rglob("*.py"), *(ROOT / "infra").rglob("*.py")]:
        text = path.read_text()
        if "os.environ" in text or "getenv(" in text:
            readers.append(str(path.relative_to(ROOT)))
    # The local host sets THREADS for gunicorn; it reads nothing.
    assert sorted(readers) == ["shared/oie/local/host.py", "shared/oie/settings.py"]
