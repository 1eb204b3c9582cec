"""The message catalogue: in step with the code, compiled, and switching languages."""

from __future__ import annotations

import io

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from jinja2 import Environment

from minqing import catalogue, i18n
from minqing.i18n import _, label, using
from minqing.labels import CHANNEL_LABELS, channel_label, status_label
from minqing.settings import Settings


def test_every_marked_text_is_in_the_catalogue_translated_and_compiled():
    assert catalogue.problems() == []


def test_the_compiled_catalogue_holds_exactly_the_translations_of_the_po():
    for language in catalogue.target_languages():
        po = catalogue.read_catalogue(language)
        with open(catalogue.mo_path(language), "rb") as fp:
            mo = read_mo(fp)
        from_po = {(m.context, _plain(m.id)): _plain(m.string) for m in po if m.id and not m.fuzzy}
        from_mo = {(m.context, _plain(m.id)): _plain(m.string) for m in mo if m.id}
        assert from_mo == from_po
        assert len(from_po) > 40


def test_a_new_text_in_the_code_without_a_translation_is_reported(tmp_path):
    (tmp_path / "minqing").mkdir()
    (tmp_path / "minqing" / "new.py").write_text(
        'from minqing.i18n import _\n\nTEXT = _("这是一句新加的话")\n', encoding="utf-8"
    )
    (tmp_path / "web" / "templates").mkdir(parents=True)
    (tmp_path / "web" / "templates" / "page.html").write_text(
        '<p>{{ _("页面上新加的话") }}</p>{% trans %}也是新的{% endtrans %}', encoding="utf-8"
    )
    extracted = catalogue.extract(tmp_path)
    assert {m.id for m in extracted if m.id} == {"这是一句新加的话", "页面上新加的话", "也是新的"}
    template = catalogue.extract()
    for message in extracted:
        if message.id:
            template.add(message.id, locations=message.locations)
    found = catalogue.problems(template)
    assert any("这是一句新加的话" in line and "not in the catalogue" in line for line in found)
    assert any("页面上新加的话" in line for line in found)


def test_a_text_whose_placeholders_differ_in_english_is_reported():
    catalog = Catalog(locale="en")
    catalog.add("已交办 %(n)d 件", "%(count)d assigned", flags=["python-format"])
    assert any(errors for _message, errors in catalog.check())


def test_chinese_is_the_default_and_english_is_one_setting_away(monkeypatch):
    assert Settings().language == "zh_CN"
    assert _("已交办") == "已交办"
    monkeypatch.setenv("MINQING_LANGUAGE", "en")
    assert Settings().language == "en"
    monkeypatch.setenv("MINQING_LANGUAGE", "zh-CN")
    assert Settings().language == "zh_CN"
    monkeypatch.setenv("MINQING_LANGUAGE", "fr")
    with pytest.raises(ValueError, match="unsupported language"):
        Settings()


def test_using_switches_the_language_for_a_block_only():
    with using("en"):
        assert _("已交办") == "Assigned"
        assert status_label("assigned") == "Assigned"
        assert channel_label("hotline") == "12345 hotline"
    assert status_label("assigned") == "已交办"
    assert channel_label("hotline") == "12345热线"


def test_codes_without_a_label_are_shown_as_they_are():
    assert label(CHANNEL_LABELS, "carrier-pigeon") == "carrier-pigeon"
    assert label(CHANNEL_LABELS, None) == ""


def test_templates_translate_through_the_jinja_extension():
    env = i18n.install_jinja(Environment(autoescape=True))
    page = env.from_string('<td>{{ _("已交办") }}</td><td>{% trans %}待人工审核{% endtrans %}</td>')
    assert page.render() == "<td>已交办</td><td>待人工审核</td>"
    with using("en"):
        assert page.render() == "<td>Assigned</td><td>Awaiting review</td>"


def test_the_compiled_catalogue_is_read_by_the_standard_gettext():
    import gettext

    data = catalogue.mo_path("en").read_bytes()
    english = gettext.GNUTranslations(io.BytesIO(data))
    assert english.gettext("待人工审核") == "Awaiting review"


def _plain(string: object) -> object:
    return tuple(string) if isinstance(string, list | tuple) else string


def test_counts_take_the_english_plural_and_no_plural_in_chinese():
    from minqing.channels.base import extra_cells_reason

    one, three = extra_cells_reason(1), extra_cells_reason(3)  # recorded in a Chinese run…
    assert str(one) == "比表头多出 1 格：引号不成对或多了逗号"
    assert str(three) == "比表头多出 3 格：引号不成对或多了逗号"
    with using("en"):  # …and read in English: the words come when the reason is shown
        assert str(one).startswith("1 cell beyond the last column")
        assert str(three).startswith("3 cells beyond the last column")


@pytest.mark.parametrize(
    ("codes", "labels"),
    [
        ("CaseStatus", "CASE_STATUS_LABELS"),
        ("HandoffStatus", "HANDOFF_STATUS_LABELS"),
        ("HandoffKind", "HANDOFF_KIND_LABELS"),
        ("LookbackKind", "LOOKBACK_KIND_LABELS"),
    ],
)
def test_every_code_the_database_can_hold_has_a_label_people_read(codes, labels):
    import db.models
    import minqing.labels
    import minqing.states

    enum = getattr(minqing.states, codes, None) or getattr(db.models, codes)
    table = getattr(minqing.labels, labels)
    assert sorted(set(enum) - set(table)) == []
