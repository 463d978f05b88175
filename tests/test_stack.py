"""Commands run in another shell find the running local stack: its model, data and port,
from the record `oie serve` keeps in the data folder, with no setting of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from oie.settings import STACK_FILE, Settings, forget_stack, record_stack, running_stack

from .support.servers import free_port, running

OIE = Path(sys.executable).parent / "oie"


def bare_env(**extra: str) -> dict[str, str]:
    """The environment of a new shell: no OIE_* setting, no network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIE_", "PORT"))}
    return {**env, "OIE_DATA_URL": "http://127.0.0.1:9/", "OIE_IMAGE_URL_TEMPLATE":
            "http://127.0.0.1:9/{image_id}.jpg", **extra}  # fmt: skip


def oie(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(OIE), *args], cwd=cwd, env=bare_env(**env), capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_commands_in_another_shell_use_the_running_stack(
    demo_db: Path, assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    monkeypatch.delenv("OIE_DATA_DIR")  # the stack's data is its folder's data/, as make demo's
    data = tmp_path / "data"
    data.mkdir()
    (data / "warehouse.duckdb").write_bytes(demo_db.read_bytes())
    port = free_port()
    server = [str(OIE), "serve", "--port", str(port), "--no-watch"]
    stack_env = bare_env(OIE_ASSETS=str(assets))
    with running(server, f"http://127.0.0.1:{port}/", env=stack_env, cwd=tmp_path) as proc:
        record = json.loads((data / STACK_FILE).read_text())
        assert record["url"] == f"http://127.0.0.1:{port}" and record["pid"] == proc.pid
        assert record["env"]["OIE_ASSETS"] == str(assets)
        found = oie(tmp_path, "model")  # no OIE_ASSETS here: alone, it would download the model
        assert found.returncode == 0, found.stderr
        assert str(assets) in found.stdout and "1001 labels" in found.stdout
        # publish reaches the stack's port; the classifier's own error comes back
        sent = oie(tmp_path, "publish", "--image-id", "0123456789abcdef")
        assert sent.returncode == 1 and f"127.0.0.1:{port}/classify_tflite answered" in sent.stderr
        assert "Traceback" not in sent.stderr and "answered 5" in sent.stderr
        assert "0123456789abcdef" in sent.stderr.split("answered", 1)[1], sent.stderr
        # the stack holds the DuckDB file once it has answered a page
        urllib.request.urlopen(f"http://127.0.0.1:{port}/classes?format=json").close()
        status = oie(tmp_path, "status")  # asked of the stack
        assert status.returncode == 0 and "from the running stack" in status.stderr
        counts = dict(line.split() for line in status.stdout.splitlines())
        assert counts["classes"] == "601" and counts["class_hierarchy"] == "685", counts
        # a command that only reads asks the stack; its answer is the one it gives alone
        args = ("automl-csv", "--classes", "Cat,Guitar", "--per-class", "5", "--seed", "1")
        drawn = oie(tmp_path, *args, "--labels", str(tmp_path / "labels.csv"))
        assert drawn.returncode == 0, drawn.stderr
        assert len(drawn.stdout.splitlines()) == 10 and "overlaps resolved" in drawn.stderr
        assert (tmp_path / "labels.csv").read_text().startswith("ImageId,Label\n")
        listed = oie(tmp_path, *args, "--format", "manifest", "--subset", "train")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines() == [
            "train/" + line.split(",")[1].rsplit("/", 1)[1].removesuffix(".jpg")
            for line in drawn.stdout.splitlines()
        ]
        unknown = oie(tmp_path, "automl-csv", "--classes", "Catt", "--seed", "1")
        assert unknown.returncode == 2 and "Catt" in unknown.stderr, unknown.stderr
        # a second stack on the same data is refused, whatever its port; a busy port too
        for second in (["serve", "--port", str(free_port())], ["demo"]):
            again = oie(tmp_path, *second)
            assert again.returncode == 1 and again.stderr.count("\n") == 1, again.stderr
            assert f"a stack already runs on data/ at http://127.0.0.1:{port} (pid {proc.pid})" in (
                again.stderr
            )
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        busy = oie(elsewhere, "serve", "--port", str(port), "--no-watch")
        assert busy.returncode == 1 and f"port {port} on 127.0.0.1 is in use" in busy.stderr
        assert json.loads((data / STACK_FILE).read_text())["pid"] == proc.pid  # record kept
        # one that writes says, in one line, what to do
        held = oie(tmp_path, "import", "--demo", OIE_ASSETS=str(assets))
        assert held.returncode == 1 and held.stderr.count("\n") == 1, held.stderr
        assert f"the running stack at http://127.0.0.1:{port} (pid {proc.pid}) holds it" in (
            held.stderr
        )
    alone = oie(tmp_path, *args)  # the same draw with the stack stopped
    assert alone.returncode == 0 and alone.stdout == drawn.stdout
    assert not (data / STACK_FILE).exists()  # a stopped stack leaves no record


def test_a_record_of_a_stopped_stack_is_ignored(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    record_stack(settings, "0.0.0.0", 9123)
    found = running_stack(tmp_path)
    assert found is not None and found.url == "http://127.0.0.1:9123"
    assert found.env["PORT"] == "9123"
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    record = json.loads((tmp_path / STACK_FILE).read_text())
    (tmp_path / STACK_FILE).write_text(json.dumps({**record, "pid": int(done.stdout)}))
    assert running_stack(tmp_path) is None  # that process has ended
    (tmp_path / STACK_FILE).write_text("{not json")
    assert running_stack(tmp_path) is None
    forget_stack(settings)  # not this process's record: left alone
    assert (tmp_path / STACK_FILE).exists()


@pytest.mark.parametrize("given", ["PORT", "OIE_ASSETS"])
def test_the_environment_wins_over_the_stack(tmp_path: Path, given: str) -> None:
    (tmp_path / "data").mkdir()
    record = {"url": "http://127.0.0.1:9", "pid": os.getpid(),
              "env": {"PORT": "9", "OIE_ASSETS": "/from/the/stack"}}  # fmt: skip
    (tmp_path / "data" / STACK_FILE).write_text(json.dumps(record))
    code = "from oie import settings; s = settings.load(); print(s.port, s.assets)"
    env = bare_env(**{given: "7777" if given == "PORT" else "/mine"})
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    port, assets = done.stdout.split()
    assert (port, assets) == (("7777", "/from/the/stack") if given == "PORT" else ("9", "/mine"))
