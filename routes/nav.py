"""The member menu: one entry per My Page screen, in the order members see them."""

from __future__ import annotations

from typing import NamedTuple


class NavItem(NamedTuple):
    path: str
    label: str


# Each feature adds its screen here when it lands.
MEMBER_NAV: list[NavItem] = [
    NavItem("/mypage", "マイページ"),
]
