"""The scaffold of a service's internal OpenAPI document, ``contracts/http/<service>.openapi.json``.

A service's ``entrypoints/openapi.py`` keeps what is its own — the schemas and the paths — and takes the rest from
here: the ``APISpec`` with the ``X-Service-Token`` security scheme, the small builders of responses and parameters,
how the document is rendered (sorted keys, so the committed file only changes when the API does) and written:

    SPEC = openapi.ServiceDocument("policies", build)   # build() -> dict, made with openapi.service_spec(...)
                                                        # a test checks the committed file equals SPEC.render()

    if __name__ == "__main__":
        SPEC.main()                                     # python -m policies.entrypoints.openapi rewrites the file

apispec is imported when a document is built: every API service depends on it; plumbing that only relays or
consumes does not need it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from . import config

#: the security requirement of a route that needs the caller's ``X-Service-Token``
SECURITY = [{"serviceToken": []}]
_SERVICE_TOKEN = {"type": "apiKey", "in": "header", "name": "X-Service-Token"}


def service_spec(title: str, description: str, *, every_route: bool):
    """A new ``APISpec`` (OpenAPI 3.0.3, marshmallow schemas) for an internal API. ``every_route=True`` states the
    service-token requirement once for the whole document; otherwise each operation names ``SECURITY`` itself."""
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    options = {"security": SECURITY} if every_route else {}
    spec = APISpec(title=title, version="1.0.0", openapi_version="3.0.3", plugins=[MarshmallowPlugin()],
                   info={"description": description}, **options)
    spec.components.security_scheme("serviceToken", dict(_SERVICE_TOKEN))
    return spec


def json_response(schema, description: str) -> dict:
    """A response with a JSON body: ``schema`` is a component's name (or an inline schema)."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error(description: str) -> dict:
    """An error response (the component ``Error``)."""
    return json_response("Error", description)


def json_body(schema: str) -> dict:
    """A required JSON request body."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def path_param(name: str, description: str | None = None) -> dict:
    """A string parameter of the path."""
    param = {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
    if description is not None:
        param["description"] = description
    return param


def render(document: dict) -> str:
    """The committed form: two-space indents, sorted keys, UTF-8 as it is, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


class ServiceDocument:
    """``contracts/http/<service>.openapi.json``, made by ``build()``."""

    def __init__(self, service: str, build: Callable[[], dict]):
        self.service = service
        self.build = build
        #: the file, relative to the contracts folder
        self.output = f"http/{service}.openapi.json"

    def render(self) -> str:
        return render(self.build())

    def write(self, contracts_dir: Path | None = None) -> Path:
        path = Path(contracts_dir or config.contracts_dir()) / self.output
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        return path

    def main(self) -> None:
        print(self.write())
