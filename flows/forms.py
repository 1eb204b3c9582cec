"""Chinese titles and help for a deployment's parameters in the Prefect UI's run form."""

from __future__ import annotations

from typing import Any

from pydantic import Field


def form(title: str, description: str, **schema: Any) -> Any:
    """Prefect titles each parameter with its Python name and takes descriptions only from the
    docstring; the operator's Chinese title and help go into the JSON schema directly."""
    return Field(json_schema_extra={"title": title, "description": description, **schema})
