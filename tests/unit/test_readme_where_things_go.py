"""The README's "Where things go" names places that exist, so it cannot drift from the tree unnoticed."""

from __future__ import annotations

import re
from pathlib import Path

import routes.common
import routes.nav
import routes.registry

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("### Where things go")
    end = readme.index("\n### ", start + 1)
    return readme[start:end]


def test_the_section_names_the_four_places_of_a_new_screen() -> None:
    section = _section()
    for place in ("routes/<screen>.py", "routes/registry.py", "routes/nav.py", "views/<screen>/"):
        assert f"`{place}`" in section, place
    assert routes.registry.ROUTE_HANDLERS and routes.nav.MEMBER_NAV and routes.nav.ADMIN_NAV
    assert set(routes.common.DEPENDENCIES) == {"app_ctx", "auth"}
    for name in ("render", "form_error_status", "redirect", "redirect_with_flash"):
        assert callable(getattr(routes.common, name)), name


def test_every_file_the_section_names_exists() -> None:
    files = re.findall(r"`((?:routes|services|db)/[a-z_]+\.py)`", _section())
    assert len(files) >= 8
    for name in files:
        assert (ROOT / name).is_file(), name


def test_the_menus_point_to_the_section() -> None:
    assert "Where things go" in (ROOT / "routes" / "nav.py").read_text(encoding="utf-8")
