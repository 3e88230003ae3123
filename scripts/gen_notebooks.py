"""Write notebooks/*.ipynb from the cells below (no outputs), so they stay reviewable.

python scripts/gen_notebooks.py            # rewrite the notebooks
python scripts/gen_notebooks.py --check    # exit 1 when a committed notebook differs
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from _generated import write_or_check
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "notebooks"

SETUP = """\
import os, tempfile
from pathlib import Path

# Keep this notebook's traces apart: a fresh local store in a temporary directory.
store = Path(tempfile.mkdtemp()) / "traces.db"
os.environ["LANGGRAPH_OBSERVE_STORE"] = str(store)
store"""

QUICKSTART = [
    new_markdown_cell(
        "# Quickstart: trace a LangGraph run\n\n"
        "Attach `CallbackHandler` to a graph, run it, and look at the trace. No keys and no "
        "servers: the chat model is a scripted fake that reports token usage like a real one, "
        "and the trace goes to the embedded SQLite store."
    ),
    new_code_cell(SETUP),
    new_markdown_cell("## A small graph\n\nTwo nodes, each calling a chat model."),
    new_code_cell(
        """\
from typing import TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph


class ScriptedChatModel(GenericFakeChatModel):
    model_name: str = "gpt-4o-mini"


def scripted(text, input_tokens, output_tokens):
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens,
             "total_tokens": input_tokens + output_tokens}
    return ScriptedChatModel(messages=iter([AIMessage(content=text, usage_metadata=usage)] * 100))


outline_model = scripted("1. intro 2. body 3. conclusion", 60, 20)
draft_model = scripted("A short essay.", 180, 90)


class State(TypedDict, total=False):
    topic: str
    outline: str
    draft: str


def outline(state: State) -> State:
    return {"outline": outline_model.invoke(f"Outline an essay on {state['topic']}").content}


def draft(state: State) -> State:
    return {"draft": draft_model.invoke(f"Write it: {state['outline']}").content}


builder = StateGraph(State)
builder.add_node("outline", outline)
builder.add_node("draft", draft)
builder.add_edge(START, "outline")
builder.add_edge("outline", "draft")
builder.add_edge("draft", END)
graph = builder.compile(name="essay")"""
    ),
    new_markdown_cell(
        "## Attach the handler\n\n`CallbackHandler()` turns on the local store (and "
        "Prometheus, OpenTelemetry, Langfuse when they are configured). `flush()` waits "
        "until every sink has the run."
    ),
    new_code_cell(
        """\
from langgraph_observe import CallbackHandler

handler = CallbackHandler()
result = graph.invoke({"topic": "observability"}, config={"callbacks": [handler]})
handler.flush()
result["draft"]"""
    ),
    new_markdown_cell("## Look at the trace"),
    new_code_cell(
        """\
from langgraph_observe import explore

traces = explore.traces()
traces[["trace_id", "workflow", "status", "duration_ms", "span_count", "total_tokens",
        "cost_usd"]]"""
    ),
    new_code_cell(
        """\
trace_id = traces.trace_id[0]
explore.spans(trace_id=trace_id)[["name", "kind", "node", "model", "duration_ms",
                                  "input_tokens", "output_tokens", "cost_usd"]]"""
    ),
    new_code_cell("explore.waterfall(trace_id)"),
    new_markdown_cell(
        "The same trace from a terminal: `langgraph-observe traces show <id>`.\n\n"
        "Next: `02_explore_traces.ipynb`."
    ),
    new_code_cell("handler.shutdown()"),
]

EXPLORE = [
    new_markdown_cell(
        "# Explore traces\n\n"
        "DataFrames of spans and traces, a waterfall per run, the slowest nodes, and tokens "
        "and cost by persona and model. The runs come from the demo release workflow "
        "(three personas, scripted models that report usage; no keys)."
    ),
    new_code_cell(SETUP),
    new_code_cell(
        """\
from langgraph_observe.demo import run_demo

runs = [run_demo(store) for _ in range(3)]
[r.trace_id for r in runs]"""
    ),
    new_markdown_cell("## Traces and spans as DataFrames"),
    new_code_cell(
        """\
from langgraph_observe import explore

explore.traces()[["trace_id", "workflow", "start_time", "duration_ms", "status", "span_count",
                  "total_tokens", "cost_usd"]]"""
    ),
    new_code_cell(
        """\
spans = explore.spans()
spans.groupby("kind").agg(spans=("span_id", "size"), mean_ms=("duration_ms", "mean"))"""
    ),
    new_markdown_cell("## One run as a waterfall, coloured by persona"),
    new_code_cell('explore.waterfall(runs[-1].trace_id, color_by="persona")'),
    new_code_cell("explore.persona_timeline(runs[-1].trace_id)"),
    new_markdown_cell("## The slowest nodes"),
    new_code_cell('explore.slowest(kind="node", n=5)'),
    new_code_cell('explore.latency_chart(kind="node")'),
    new_markdown_cell(
        "## Tokens and cost by persona and model\n\n"
        "Cost is read from model calls only (LLM and embedding spans); each call carries its "
        "node, persona and tenant, so the roll-up never adds a parent to its children."
    ),
    new_code_cell('explore.cost_summary(by=["persona", "model"])'),
    new_code_cell('explore.token_summary(by="model")'),
    new_code_cell('explore.cost_chart(by="persona")'),
    new_code_cell('explore.token_chart(by="model")'),
    new_markdown_cell("## Errors\n\nFailed spans, newest first (empty when every run went well)."),
    new_code_cell("explore.errors()"),
]

BUDGETS = [
    new_markdown_cell(
        "# Budgets and gates\n\n"
        "`examples/release_workflow.py` runs a release with three personas. Its config file "
        "(`examples/release.yaml`) gives each persona a token and USD budget per run and puts "
        "quality gates on node outputs. Here we run it twice — once healthy, once with low "
        "test coverage — and read budget burn and gate results back from the store."
    ),
    new_code_cell(SETUP),
    new_code_cell(
        """\
import sys

sys.path.insert(0, str(Path.cwd().parent / "examples"))
print((Path.cwd().parent / "examples" / "release.yaml").read_text())"""
    ),
    new_code_cell(
        """\
from release_workflow import ReleaseWorkflow

from langgraph_observe.sinks.local import LocalStoreSink

for coverage in (0.91, 0.62):
    release = ReleaseWorkflow(sinks=[LocalStoreSink(store)], tenant="acme", coverage=coverage)
    release.invoke({"version": "1.2.0", "log": []}, user_id="release-bot")
    release.shutdown()"""
    ),
    new_markdown_cell(
        "## Budget burn\n\nThe latest state of each persona's budget window "
        "(`window: run` in the config: one window per run)."
    ),
    new_code_cell(
        """\
from langgraph_observe import explore

explore.budget_burn()"""
    ),
    new_code_cell('explore.budget_chart(unit="tokens")'),
    new_markdown_cell("## Who spent what, when"),
    new_code_cell(
        """\
last = explore.traces().trace_id[0]
explore.persona_timeline(last)"""
    ),
    new_code_cell('explore.waterfall(last, color_by="persona")'),
    new_markdown_cell(
        "## Gate results\n\nEach gate evaluation is a score with a pass/fail verdict. The "
        "coverage gate failed on the second run (`on_fail: record` records it and lets the "
        "run go on)."
    ),
    new_code_cell("explore.gate_pass_rates()"),
    new_code_cell(
        """\
from langgraph_observe import analytics
from langgraph_observe.store import LocalStore

analytics.quality_summary(LocalStore(store))"""
    ),
]

NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_explore_traces.ipynb": EXPLORE,
    "03_budgets_and_gates.ipynb": BUDGETS,
}


def build(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(NOTEBOOKS[name])) + "\n"


def main(argv: list[str]) -> int:
    files = {OUT / name: render(name) for name in NOTEBOOKS}
    return write_or_check(files, check="--check" in argv, command="python scripts/gen_notebooks.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
