"""Google client options for an endpoint: Google's own, or a local emulator or fake."""

from __future__ import annotations

from typing import Any


def is_local(endpoint: str) -> bool:
    """A plain-http endpoint (or host:port) is an emulator or fake: it takes no credentials."""
    return bool(endpoint) and not endpoint.startswith("https://")


def client_kwargs(endpoint: str) -> dict[str, Any]:
    """`client_options` (and anonymous `credentials` for a local endpoint) for a google-cloud
    client; {} for Google's default endpoint, where Application Default Credentials apply."""
    if not endpoint:
        return {}
    from google.api_core.client_options import ClientOptions

    if not is_local(endpoint):
        return {"client_options": ClientOptions(api_endpoint=endpoint)}
    from google.auth.credentials import AnonymousCredentials

    url = endpoint if "://" in endpoint else f"http://{endpoint}"
    return {
        "client_options": ClientOptions(api_endpoint=url),
        "credentials": AnonymousCredentials(),
    }
