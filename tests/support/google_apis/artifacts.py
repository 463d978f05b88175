"""Artifact Registry v1: the gcf-artifacts repository where function builds push images, as
far as `gcloud artifacts docker images delete IMAGE --delete-tags` reaches."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from .server import FakeGoogle, Request, Router, not_found

router = Router()
REPO = "/artifactregistry/v1/projects/{project}/locations/{location}/repositories/{repo}"


def _image(r: Request, package: str) -> str:
    p = r.params
    return f"{p['location']}-docker.pkg.dev/{p['project']}/{p['repo']}/{unquote(package)}"


@router.add("GET", REPO)
def repository(fake: FakeGoogle, r: Request) -> Any:
    """artifactregistry.projects.locations.repositories.get"""
    p = r.params
    prefix = f"{p['location']}-docker.pkg.dev/{p['project']}/{p['repo']}/"
    if not any(i.startswith(prefix) for i in fake.project(p["project"]).images):
        raise not_found(f"Repository {p['repo']}")
    return {"name": f"projects/{p['project']}/locations/{p['location']}/repositories/{p['repo']}",
            "format": "DOCKER", "mode": "STANDARD_REPOSITORY"}  # fmt: skip


@router.add("DELETE", REPO + "/packages/{package}")
def delete_package(fake: FakeGoogle, r: Request) -> Any:
    """artifactregistry.projects.locations.repositories.packages.delete (an operation)"""
    p = fake.project(r.params["project"])
    image = _image(r, r.params["package"])
    if image not in p.images:
        raise not_found(f"Package {r.params['package']}")
    p.images.discard(image)
    name = f"projects/{p.id}/locations/{r.params['location']}/operations/{fake.new_id()}"
    return fake.operation(p, name)


@router.add("GET", "/artifactregistry/v1/projects/{project}/locations/{location}/operations/{id}")
def operation(fake: FakeGoogle, r: Request) -> Any:
    """artifactregistry.projects.locations.operations.get"""
    p, op = fake.project(r.params["project"]), r.path.split("/v1/", 1)[1]
    if op not in p.operations:
        raise not_found(f"Operation {op}")
    return p.operations[op]
