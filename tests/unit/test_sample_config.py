"""The demo's sample data and the shipped config agree, and the README names every config file."""

from __future__ import annotations

import re
from pathlib import Path

from minqing.channels import file_checksum, get_parser
from minqing.records import Item
from minqing.reference import load_reference

ROOT = Path(__file__).resolve().parents[2]


def _qr_items() -> list[Item]:
    files = sorted((ROOT / "sample").glob("*/inbox/qrform/*.jsonl"))
    assert files, "the sample has QR-form files"
    parser = get_parser("qrform")
    return [o for f in files for o in parser.parse(f, file_checksum(f)) if isinstance(o, Item)]


def test_every_station_code_in_the_sample_qr_data_is_a_station_of_the_config():
    ref = load_reference(ROOT / "config")
    items = _qr_items()
    used = {item.recorded_by for item in items}
    assert len(used) == 8 and not used - set(ref.station_by_code)
    for item in items:  # the area a citizen picked is the station's own, when given
        station = ref.station_by_code[item.recorded_by or ""]
        assert item.area in ("", None, station.area), (item.source_ref, item.area, station.code)


def test_the_readme_configuration_table_lists_every_config_file():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([a-z_]+\.yaml)` \|", readme, flags=re.MULTILINE))
    shipped = {p.name for p in (ROOT / "config").glob("*.yaml")}
    assert shipped == listed
