"""The docs site builds in strict mode, lists every page, and its generated pages match the
code they are generated from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e


def _nav_files(nav) -> list[str]:
    out: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        out += _nav_files(value) if isinstance(value, list) else [value]
    return out


def test_nav_lists_every_page():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = _nav_files(config["nav"])
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert sorted(listed) == sorted(set(listed)), "a page is listed twice"
    assert sorted(listed) == pages, {
        "missing from docs/": sorted(set(listed) - set(pages)),
        "missing from the nav": sorted(set(pages) - set(listed)),
    }


def test_generated_pages_are_current():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_attribute_reference_covers_the_catalog():
    from langgraph_observe.semconv import SPAN_ATTRIBUTES

    text = (ROOT / "docs" / "attributes.md").read_text()
    assert all(f"`{name}`" in text for name in SPAN_ATTRIBUTES)


def test_site_builds_strict(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "site" / "attributes" / "index.html").exists()
    assert (tmp_path / "site" / "getting-started" / "index.html").exists()
