"""What a forked child must renew before it uses an object of the parent's.

In the child of ``os.fork()`` only the forking thread exists: a lock another thread of
the parent held at the fork stays held forever, and a background thread the object
counts on is gone. Objects register here; in the child, each named lock is replaced by a
new one, then the object's ``reset`` (if any) runs. (Dispatchers and their sinks are
renewed by :mod:`._open_dispatchers`.)
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from . import _guard

__all__ = ["renew_after_fork"]

#: owner -> (names of its lock attributes, what else to reset)
_owners: weakref.WeakKeyDictionary[Any, tuple[tuple[str, ...], Callable[[Any], None] | None]] = (
    weakref.WeakKeyDictionary()
)


def renew_after_fork(owner: Any, *locks: str, reset: Callable[[Any], None] | None = None) -> None:
    """In a forked child, give ``owner`` a new ``threading.Lock`` in each attribute named
    in ``locks``, then call ``reset(owner)``. ``owner`` is held weakly (a module or any
    hashable object)."""
    _owners[owner] = (locks, reset)


def _renew_in_child() -> None:
    for owner, (locks, reset) in list(_owners.items()):
        try:
            for name in locks:
                setattr(owner, name, threading.Lock())
            if reset is not None:
                reset(owner)
        except Exception as exc:  # pragma: no cover - defensive
            _guard.report("after fork", exc)


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_renew_in_child)
renew_after_fork(_guard, "_lock")  # _guard imports nothing of the package: registered here
