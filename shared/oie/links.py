"""Links between the functions (under OIE_BASE_URL when set) and to the Open Images photos."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .settings import Settings


@dataclass(frozen=True)
class Links:
    base_url: str = ""  # "" = the same host
    image_template: str = ""  # a URL with {image_id}

    @classmethod
    def of(cls, s: Settings) -> Links:
        return cls(s.base_url, s.image_url_template)

    def url(self, name: str, **params: Any) -> str:
        """A link to another function: `/NAME?...`; empty and None values are left out."""
        query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
        path = "/" if name == "index" else f"/{name}"
        return self.base_url + path + (f"?{query}" if query else "")

    def image(self, image_id: str) -> str:
        return self.image_template.replace("{image_id}", image_id)
