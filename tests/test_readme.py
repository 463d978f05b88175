"""Every command of the README, run as a newcomer would, in the README's order, beside the
stack `make demo` starts, in a folder laid out as a fresh clone (the checkout's files, the
project's .venv, ../shared beside it, no data yet). A traceback, a command that does not
show what the README says, or a failure the README does not promise, fails. A command this
cannot run here is listed with the test that covers it instead."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .support.servers import free_port, running

ROOT = Path(__file__).resolve().parents[1]
OIE = Path(sys.executable).parent / "oie"
CLONED = ("deploy.sh", "docs", "functions", "infra", "shared", "tests", "Makefile",
          "pyproject.toml", "README.md")  # fmt: skip

# Command (its start) -> what it shows, as the README says.
SHOWS = {
    ".venv/bin/oie status": "class_hierarchy",
    ".venv/bin/oie classify": "parrot.jpg: macaw",
    ".venv/bin/oie evaluate": "accuracy: 0.800 (4 of 5)",
    ".venv/bin/oie publish": "classify_tflite",
    "curl ": "image_id,url,image_info",
    "oie import --demo": "holds it",
    "A=": "",
    "oie import --classes": "holds it",
    "oie status": "class_hierarchy",
    "oie serve": "a stack already runs",
    "oie demo": "a stack already runs",
    "oie classify": "parrot.jpg,",
    "oie publish": "classify_tflite",
    "oie evaluate": "plot: confusion.png",
    "oie automl-csv": "overlaps resolved",
    "echo GOOGLE_CLOUD_PROJECT=my-project > .env": "",
    "./deploy.sh --dry-run": "project my-project, region us-central1",
}
# Failures the README promises, and how they read. The photo publish fetches is on the
# internet; a command that writes, or starts a second stack, names the running one.
PROMISED = {
    "publish": "cannot download",
    "oie import": "the running stack at",
    "oie serve": "a stack already runs on data/",
    "oie demo": "a stack already runs on data/",
}
# Commands this cannot run here, and what runs them instead.
ELSEWHERE = {
    "make demo": "this test's stack is `oie demo` with OIE_ASSETS as make demo sets it; CI "
    "runs make's set-up on a fresh clone",
    "make test": "it is the suite this test is part of",
    "gcloud auth": "needs a Google account and a browser; tests/test_deploy_gcloud.py runs "
    "the real gcloud signed in to the fake Google APIs",
    "./deploy.sh": "deploys for real; tests/test_deploy_gcloud.py runs it against the fake "
    "Google APIs",
}


def commands() -> list[str]:
    """Every line of every sh block, in order, comments cut."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    found = [line.split("  #", 1)[0].strip() for b in blocks for line in b.splitlines()]
    return [c for c in found if c]


def expected(command: str) -> str | None:
    """What the command shows, or None when it runs elsewhere."""
    shows = [v for k, v in SHOWS.items() if command.startswith(k)]
    if shows:
        return shows[0]
    assert any(command.startswith(k) for k in ELSEWHERE), (
        f"the README's {command!r} has no expectation here: add one"
    )
    return None


def test_every_command_of_the_readme(tmp_path: Path, assets: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("OIE_DATA_DIR")  # the stack's data is the clone's data/, as make demo's
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in CLONED:
        (clone / name).symlink_to(ROOT / name)
    (clone / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "assets").symlink_to(assets)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIE_", "PORT"))}
    env["OIE_IMAGE_URL_TEMPLATE"] = "http://127.0.0.1:9/{image_id}.jpg"  # no internet here
    env["PATH"] = f"{clone / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"  # `oie`, activated
    port = free_port()
    stack_env = {**env, "OIE_ASSETS": "../shared/assets"}  # what make demo exports
    lines = commands()
    assert len(lines) >= 20
    shell: list[str] = []  # assignments, kept for the block's later lines
    ran = 0
    with running([str(OIE), "demo", "--port", str(port)], f"http://127.0.0.1:{port}/",
                 env=stack_env, cwd=clone):  # fmt: skip
        for command in lines:
            shows = expected(command)
            if shows is None:
                continue
            line = command.replace("8080", str(port))
            if re.fullmatch(r"[A-Z_]+=\S+", line):
                shell.append(line)
            done = subprocess.run(["bash", "-c", "; ".join([*shell, line])], cwd=clone, env=env,
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
            ran += 1
            said = done.stdout + done.stderr
            assert "Traceback" not in said, (command, said[-2000:])
            assert shows in said, (command, shows, said[-2000:])
            if done.returncode != 0:
                promise = [v for k, v in PROMISED.items() if k in command]
                assert promise and promise[0] in said, (command, done.returncode, said[-2000:])
    assert ran == len(lines) - sum(expected(c) is None for c in lines)
    assert (clone / "automl.csv").read_text().count("\n") == 261  # Guitar has 61 images
    assert (clone / "confusion.png").read_bytes().startswith(b"\x89PNG")
    assert not (clone / "data" / "stack.json").exists()  # the stopped stack left no record


@pytest.mark.parametrize("command", commands())
def test_each_command_is_one_the_project_has(command: str) -> None:
    """Each `oie` verb exists; each curl asks the local stack; the rest are named above."""
    if command.startswith("curl "):
        assert "127.0.0.1:8080/" in command
        return
    words = command.split()
    if words[0] in (".venv/bin/oie", "oie"):
        from click.testing import CliRunner

        from oie.cli import main

        assert CliRunner().invoke(main, [words[1], "--help"]).exit_code == 0, command
        return
    assert any(command.startswith(k) for k in (*SHOWS, *ELSEWHERE)), command
