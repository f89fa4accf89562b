"""The public API: ``from colorcli import *`` gives every name ``__all__`` promises."""

from __future__ import annotations

import colorcli


def test_star_import_gives_every_name_in_all() -> None:
    namespace: dict[str, object] = {}
    exec("from colorcli import *", namespace)
    missing = [name for name in colorcli.__all__ if name not in namespace]
    assert missing == []
    assert len(set(colorcli.__all__)) == len(colorcli.__all__)
