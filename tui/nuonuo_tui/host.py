"""``host(node)``: the ``NuonuoApp`` a screen or widget runs in, typed (Textual's ``node.app`` is an
``App[Any]``, which has none of the app's own attributes: ``engine``, ``home``, ``open_detail``…)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.dom import DOMNode

if TYPE_CHECKING:
    from nuonuo_tui.app import NuonuoApp


def host(node: DOMNode) -> NuonuoApp:
    from nuonuo_tui.app import NuonuoApp

    app = node.app
    if not isinstance(app, NuonuoApp):
        raise TypeError(f"{type(node).__name__} runs only inside nuonuo's app, not {type(app).__name__}")
    return app
