"""Each HTTP function also runs alone under `functions-framework --target NAME`."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT
from .support.servers import free_port, running

FF = Path(sys.executable).parent / "functions-framework"


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("index", ""),
        ("classes", "limit=2"),
        ("relations", ""),
        ("image_info", "image_id=0041c772f8b9aef6"),
        ("image_search", "description=Cat&image_limit=2"),
        ("image_search_multiple", "descriptions=Cat,Dog&image_limit=2"),
        ("relation_search", "relation=plays&image_limit=2"),
        ("image_classify_classes", ""),
        ("image_classify", ""),
        ("results", "limit=2"),
    ],
)
def test_function_runs_alone(demo_env: Path, name: str, query: str) -> None:
    port = free_port()
    source = ROOT / "functions" / name / "main.py"
    cmd = [str(FF), "--target", name, "--source", str(source), "--port", str(port)]
    base = f"http://127.0.0.1:{port}/"
    with running(cmd, base, cwd=source.parent):
        with urllib.request.urlopen(f"{base}?{query}&format=json", timeout=10) as response:
            body = json.load(response)
        assert response.status == 200 and body["ok"] is True
        # an HTTP function answers on every path, as on Cloud Functions
        with urllib.request.urlopen(f"{base}any/path?{query}", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/html")
