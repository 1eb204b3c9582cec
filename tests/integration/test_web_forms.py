"""The public forms as citizens fill them on a phone: the QR form's phone check accepts what a
Chinese citizen gives (a mobile or a landline with its area code, with spaces or hyphens) and
says at the field what it expects. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from minqing.settings import reset_settings
from web.app import create_app
from web.testing import hidden_fields

SECRET = "test-secret-" + "f" * 40
LAMP = "东湖社区惠民小区3栋门口路灯坏了一个星期，晚上很黑，老人出门不安全，请尽快维修。"
EXPECTED = "请填写 11 位手机号或带区号的座机号"


@pytest.fixture
def client(minq, monkeypatch):
    monkeypatch.setenv("MINQING_SECRET_KEY", SECRET)
    monkeypatch.setenv("MINQING_PUBLIC_URL", "http://testserver")
    monkeypatch.setenv("MINQING_MAIL_MODE", "dry-run")
    reset_settings()
    with TestClient(create_app()) as c:
        yield c


def post_qr(client, **fields):
    form = hidden_fields(client.get("/s/donghu-jia").text)
    return client.post(
        "/s/donghu-jia", data={**form, "content": LAMP, "area": "东湖社区", **fields}
    )


@pytest.mark.parametrize(
    "phone",
    ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "0731-12345678",
     "0731 8888123", "010-12345678", "(0731)88881234", "０７３１－８８８８１２３４"],
)  # fmt: skip
def test_the_qr_form_accepts_a_mobile_or_a_landline_with_its_area_code(client, phone):
    page = post_qr(client, phone=phone)
    assert page.status_code == 200, page.text
    assert re.search(r'<p class="receipt">QR\d{8}-[0-9a-f]{12}</p>', page.text)


@pytest.mark.parametrize("phone", ["12345", "1381234567", "138123456789", "23812345678", "8888123"])
def test_the_qr_form_refuses_other_numbers_and_says_at_the_field_what_it_expects(client, phone):
    page = post_qr(client, phone=phone)
    assert page.status_code == 400
    assert "只能包含数字" not in page.text
    # the message right under the phone field, as every field's own message is
    at_field = re.search(
        r'<input type="tel" id="phone"[^>]*>\s*<p class="error" id="err-phone">([^<]+)</p>',
        page.text,
    )
    assert at_field and EXPECTED in at_field.group(1), page.text
    assert f'value="{phone}"' in page.text  # what they typed stays for them to correct
