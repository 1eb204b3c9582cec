"""Every deployment in prefect.yaml is described in Chinese and every parameter of its run form
has a Chinese title and help, as the operator sees them in the Prefect UI."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml
from prefect.utilities.callables import parameter_schema

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")


def deployments() -> list[dict]:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]


def test_each_deployment_is_described_in_chinese():
    for d in deployments():
        # Latin is left for names the operator types or sees elsewhere (MINQING_…, interval, CSV).
        prose = re.sub(r"`[^`]*`|[A-Z_]{3,}|\b(?:CSV|Dask|config/\S+)\b", "", d["description"])
        assert CJK.search(d["description"]), d["name"]
        assert not re.search(r"\b[a-z]{3,}\b", prose), (d["name"], prose)


def test_each_parameter_of_each_run_form_has_a_chinese_title_and_help():
    for d in deployments():
        module, name = d["entrypoint"].split(":")
        flow = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)
        for param, prop in parameter_schema(flow.fn).model_dump()["properties"].items():
            assert CJK.search(prop.get("title", "")), (d["name"], param)
            assert CJK.search(prop.get("description", "")), (d["name"], param)
            # an optional parameter's two tabs are named too (else "None" and "date")
            for choice in prop.get("anyOf", []):
                assert CJK.search(choice.get("title", "")), (d["name"], param, choice)
