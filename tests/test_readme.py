"""README's first ten minutes, run as a newcomer would: the stack `make demo` starts, then
every command of the section in another shell, in order, in a folder laid out as a fresh
clone (the project's .venv and docs, ../shared beside it, no data yet). A traceback, or a
non-zero exit the README does not promise, fails."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .support.servers import free_port, running

ROOT = Path(__file__).resolve().parents[1]
OIE = Path(sys.executable).parent / "oie"
# What the README says may fail, and how: publish fetches the photo from the internet.
PROMISED = {"publish": "cannot download"}
# What each command shows a newcomer, as the README says.
SHOWS = {"status": "class_hierarchy", "classify": "parrot.jpg: macaw",
         "evaluate": "accuracy: 0.800 (4 of 5)", "publish": "classify_tflite",
         "curl": "image_id,url,image_info"}  # fmt: skip


def first_ten_minutes() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## The first ten minutes", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the section has a sh block"
    return [line.split("  #", 1)[0].strip() for line in block[1].splitlines() if line.strip()]


def test_the_first_ten_minutes(tmp_path: Path, assets: Path) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in (".venv", "docs"):
        (clone / name).symlink_to(ROOT / name if name != ".venv" else Path(sys.prefix))
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "assets").symlink_to(assets)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIE_", "PORT"))}
    env["OIE_IMAGE_URL_TEMPLATE"] = "http://127.0.0.1:9/{image_id}.jpg"  # no internet here
    port = free_port()
    stack_env = {**env, "OIE_ASSETS": "../shared/assets"}  # what make demo exports
    commands = first_ten_minutes()
    assert len(commands) >= 4
    with running([str(OIE), "demo", "--port", str(port)], f"http://127.0.0.1:{port}/",
                 env=stack_env, cwd=clone):  # fmt: skip
        for command in commands:
            line = command.replace("8080", str(port))
            done = subprocess.run(["bash", "-c", line], cwd=clone, env=env, capture_output=True,
                                  text=True, timeout=300)  # fmt: skip
            said = done.stdout + done.stderr
            assert "Traceback" not in said, (command, said[-2000:])
            verb = shlex.split(line)[1] if line.startswith(".venv/bin/oie") else "curl"
            assert SHOWS[verb] in said, (command, said[-2000:])
            if done.returncode != 0:
                promise = PROMISED.get(verb)
                assert promise and promise in said, (command, done.returncode, said[-2000:])
    assert not (clone / "data" / "stack.json").exists()  # the stopped stack left no record


@pytest.mark.parametrize("command", first_ten_minutes())
def test_each_command_is_one_the_project_has(command: str) -> None:
    if command.startswith("curl "):
        assert "127.0.0.1:8080/" in command
        return
    assert command.startswith(".venv/bin/oie "), command
    verb = shlex.split(command)[1]
    from click.testing import CliRunner

    from oie.cli import main

    assert CliRunner().invoke(main, [verb, "--help"]).exit_code == 0, verb
