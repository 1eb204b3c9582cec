"""Chinese titles and help for a deployment's parameters in the Prefect UI's run form."""

from __future__ import annotations

from typing import Any

from pydantic import Field


def form(title: str, description: str, **schema: Any) -> Any:
    """Prefect titles each parameter with its Python name and takes descriptions only from the
    docstring; the operator's Chinese title and help go into the JSON schema directly."""
    return Field(json_schema_extra={"title": title, "description": description, **schema})


def either(empty: str, chosen: str, **value: Any) -> dict[str, Any]:
    """The two tabs of an optional parameter (`X | None = None`) in the run form, named in
    Chinese: `empty` (None, the flow decides) first, then `chosen` (a value of the JSON schema
    `value`). Without this the UI names them by JSON type ("date", "None")."""
    return {"anyOf": [{"type": "null", "title": empty}, {**value, "title": chosen}]}
