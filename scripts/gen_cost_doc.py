"""Generate the price table of ``docs/cost.md`` from the shipped catalog.

python scripts/gen_cost_doc.py            # rewrite the table in docs/cost.md
python scripts/gen_cost_doc.py --check    # exit 1 when the committed table differs
"""

from __future__ import annotations

import sys
from pathlib import Path

from _generated import write_or_check

from langgraph_observe.pricing import PriceCatalog

DOC = Path(__file__).resolve().parent.parent / "docs" / "cost.md"
START = "<!-- prices-table:start -->"
END = "<!-- prices-table:end -->"


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:g}"


def markdown_table(catalog: PriceCatalog) -> str:
    """The catalog as a Markdown table."""
    lines = [
        f"Prices in USD per 1M tokens, as of {catalog.as_of}.",
        "",
        "| model | provider | kind | input | output | cached input | cache write "
        "| reasoning | note |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, p in catalog.models.items():
        output = "—" if p.kind == "embedding" else _fmt(p.output)
        lines.append(
            f"| `{name}` | {p.provider or ''} | {p.kind} | {_fmt(p.input)} "
            f"| {output} | {_fmt(p.cached_input)} | {_fmt(p.cache_write)} "
            f"| {_fmt(p.reasoning)} | {p.note or ''} |"
        )
    if catalog.aliases:
        lines += ["", "| alias | priced as |", "| --- | --- |"]
        lines += [f"| `{a}` | `{t}` |" for a, t in catalog.aliases.items()]
    return "\n".join(lines) + "\n"


def render(text: str, catalog: PriceCatalog | None = None) -> str:
    """``text`` with the block between the price-table markers replaced by the catalog."""
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    table = markdown_table(catalog or PriceCatalog.load())
    return f"{head}{START}\n{table}{END}{tail}"


def main(argv: list[str]) -> int:
    files = {DOC: render(DOC.read_text(encoding="utf-8"))}
    return write_or_check(files, check="--check" in argv, command="python scripts/gen_cost_doc.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
