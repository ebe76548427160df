from __future__ import annotations

from zoneinfo import ZoneInfo

from services.templates import make_environment


def render_field(**attrs: object) -> str:
    env = make_environment(ZoneInfo("Asia/Tokyo"))
    source = '{% from "_macros.html" import field %}{{ field("code", "コード", {}, {}, attrs=attrs) }}'
    return env.from_string(source).render(attrs=attrs)


def test_field_renders_its_attributes_from_a_dict_escaped_and_skips_none() -> None:
    html = render_field(**{"data-hx-get": '/x?a=1&b="2"', "readonly": "", "list": None})
    assert ' data-hx-get="/x?a=1&amp;b=&#34;2&#34;"' in html
    assert ' readonly=""' in html
    assert "list=" not in html


def test_field_without_attributes_adds_nothing() -> None:
    html = render_field()
    assert 'aria-describedby="error-code">' in html
