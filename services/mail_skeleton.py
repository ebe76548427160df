"""Mail skeletons: a bulk mail's template rendered once with markers in the per-member places, then
split there, so each member's mail is the constant pieces joined with that member's values (escaped
where the template escaped them) instead of a template render per mail.

A skeleton is made per *shape*: the run's constants plus, for every per-member value, whether it is
empty (a template may branch on it: `{% if section.more %}`). Each new shape is checked once against a
real render of its first mail; a template that does more with a value than print it (a filter, a
comparison) gives a different text there, and that shape is then always rendered by the template —
so a skeleton's mail is always byte for byte what the template gives."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from jinja2 import Template
from markupsafe import escape

log = logging.getLogger("tsudoi.mail")

# Private-use characters around the slot number; "&" shows whether the template escaped the value.
_MARK = re.compile("\ue000(\\d+)(&amp;|&)\ue001")
_MAX_SHAPES = 256


class Slots:
    """Hands the context builder a marker for each per-member value (the value itself when it is
    empty, so a template's conditions see it) and records the values and the shape."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.shape: list[Hashable] = []

    def __call__(self, value: Any) -> Any:
        if not value:
            self.shape.append((type(value), repr(value)))
            return value
        self.values.append(value)
        self.shape.append(True)
        return f"\ue000{len(self.values) - 1}&\ue001"

    def pick(self, mapping: Any, names: Sequence[str]) -> Any:
        """The fields of a row (a member, a section) the template prints."""
        return {name: self(mapping[name]) for name in names}


class Plain(Slots):
    """The same context builder with the real values: for the template render itself."""

    def __call__(self, value: Any) -> Any:
        return value

    def pick(self, mapping: Any, names: Sequence[str]) -> Any:
        return mapping


ContextBuilder = Callable[[Slots], dict[str, Any]]


class Skeleton:
    def __init__(self, rendered: str) -> None:
        self.pieces: list[str] = []
        self.slots: list[tuple[int, bool]] = []  # (value index, escaped?)
        position = 0
        for match in _MARK.finditer(rendered):
            self.pieces.append(rendered[position : match.start()])
            self.slots.append((int(match.group(1)), match.group(2) == "&amp;"))
            position = match.end()
        self.pieces.append(rendered[position:])

    def fill(self, values: Sequence[Any]) -> str:
        parts = [self.pieces[0]]
        for (index, escaped), piece in zip(self.slots, self.pieces[1:], strict=True):
            value = values[index]
            parts.append(str(escape(value)) if escaped else str(value))
            parts.append(piece)
        return "".join(parts)


class SkeletonTemplate:
    """One mail template (text or HTML part) with its skeletons, for one run."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self._skeletons: dict[Hashable, Skeleton | None] = {}

    def render(self, constants: Hashable, build: ContextBuilder) -> str:
        """The part for one member: `build` makes the template's context, passing every per-member
        value through the Slots it is given; `constants` names everything else that varies."""
        slots = Slots()
        return self.render_slots(constants, slots, build(slots), build)

    def render_slots(
        self, constants: Hashable, slots: Slots, marked: dict[str, Any], build: ContextBuilder
    ) -> str:
        """`render` with the marked context made already (render_parts makes it once for both parts)."""
        shape = (constants, tuple(slots.shape))
        skeleton = self._skeletons.get(shape, False)
        if skeleton is False:
            return self._first(shape, marked, slots, build)
        if skeleton is None:
            return self.template.render(build(Plain()))
        assert isinstance(skeleton, Skeleton)
        return skeleton.fill(slots.values)

    def _first(self, shape: Hashable, marked: dict[str, Any], slots: Slots, build: ContextBuilder) -> str:
        real = self.template.render(build(Plain()))
        if len(self._skeletons) >= _MAX_SHAPES:
            self._skeletons.clear()
        try:
            skeleton: Skeleton | None = Skeleton(self.template.render(marked))
        except Exception:  # a template that computes with a value (comparison, arithmetic)
            skeleton = None
        if skeleton is not None and skeleton.fill(slots.values) != real:
            skeleton = None
        if skeleton is None:
            log.warning("mail template %s: no skeleton for this shape; rendered per mail", self.template.name)
        self._skeletons[shape] = skeleton
        return real


def render_parts(constants: Hashable, build: ContextBuilder, *templates: SkeletonTemplate) -> list[str]:
    """Several parts of one mail (text, HTML) from one context, made once."""
    slots = Slots()
    marked = build(slots)
    return [template.render_slots(constants, slots, marked, build) for template in templates]
