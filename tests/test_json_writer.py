"""JsonWriter: the output of ``json.dumps`` with the same options, with or without the C
encoder, and usable again after a failed encoding."""

from __future__ import annotations

import json
import math
import threading

import pytest

from langgraph_observe._json import JsonWriter

VALUES = [
    {"a": [1, 2.5, None, True, 'é"x'], "b": {"c": math.inf}, "d": (1, 2)},
    [1, (2, 3), {"k": -0.0}],
    3,
    "plain ünïcode",
    {1: "int key", None: "none key", 2.5: "float key"},
    {"obj": object()},
]


@pytest.mark.parametrize("with_c", [True, False], ids=["c-encoder", "public-encoder"])
@pytest.mark.parametrize(
    ("options", "dumps_options"),
    [
        ({}, {"ensure_ascii": False, "separators": (",", ":"), "default": str}),
        (
            {"separators": (", ", ": "), "ascii_only": True},
            {"ensure_ascii": True, "separators": (", ", ": "), "default": str},
        ),
        (
            {"default": repr, "check_circular": False},
            {"ensure_ascii": False, "separators": (",", ":"), "default": repr},
        ),
    ],
)
def test_same_text_as_json_dumps(monkeypatch, with_c, options, dumps_options):
    if not with_c:
        monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    writer = JsonWriter(**options)
    assert (writer.chunks is not None) is with_c
    for value in VALUES:  # an object's text is its default's (the same object: same text)
        assert writer(value) == json.dumps(value, **dumps_options)


def test_usable_after_a_circular_value():
    writer = JsonWriter()
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"[Cc]ircular"):
        writer({"x": loop})
    # the markers the failure left are gone: an ordinary value encodes again
    same = ["shared"]
    assert writer({"a": same, "b": same}) == '{"a":["shared"],"b":["shared"]}'


def test_without_markers_threads_share_it():
    writer = JsonWriter(default=repr, check_circular=False)
    value = {"k": [{"n": i} for i in range(50)]}
    expected = json.dumps(value, separators=(",", ":"))
    seen: list[str] = []

    def work() -> None:
        for _ in range(300):
            seen.append(writer(value))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 1200
    assert set(seen) == {expected}
