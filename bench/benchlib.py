"""What every benchmark reports the same way: the machine's processor, and the results written
as bench/results/<name>.json and .md."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo ("unknown" where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def save_results(
    res: dict[str, Any], name: str, write_markdown: Callable[[dict[str, Any], Path], None]
) -> None:
    """bench/results/<name>.json (everything measured) and <name>.md (the report)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(
        json.dumps(res, indent=1, ensure_ascii=False, default=str)
    )
    write_markdown(res, RESULTS / f"{name}.md")
    print(f"wrote {RESULTS / name}.json and .md", flush=True)
