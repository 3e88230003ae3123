"""The demo workflow: a package release run by three personas, offline.

``backend-engineer`` writes the change (with a retriever over the release checklist),
``testing-specialist`` runs the test suite (a tool) and reviews the report,
``devops-engineer`` writes the release notes and publishes (a dry-run tool). The chat
models are langchain_core fakes that answer from a script and report token usage the way
``gpt-4o`` / ``gpt-4o-mini`` do, so the run has tokens (and, where the pricing table
knows the model, a cost) without keys, servers or network.

>>> from langgraph_observe.demo import run_demo
>>> result = run_demo("/tmp/demo.db")      # doctest: +SKIP
>>> result.trace_id                         # doctest: +SKIP
"""

from __future__ import annotations

import operator
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph

__all__ = ["WORKFLOW", "DemoResult", "build_release_graph", "run_demo"]

WORKFLOW = "package-release"

PERSONAS = {
    "write_code": "backend-engineer",
    "run_tests": "testing-specialist",
    "release": "devops-engineer",
}


class ReleaseState(TypedDict, total=False):
    package: str
    version: str
    change: str
    test_report: str
    release_notes: str
    log: Annotated[list[str], operator.add]


class ScriptedChatModel(GenericFakeChatModel):
    """A fake chat model that names a model and reports usage on every answer."""

    model_name: str = "gpt-4o-mini"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "openai"
        params["ls_model_name"] = self.model_name
        return params


def scripted_model(
    model: str, answer: str, input_tokens: int, output_tokens: int, cached: int = 0
) -> ScriptedChatModel:
    """A model answering ``answer`` every time, with the given usage."""
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    if cached:
        usage["input_token_details"] = {"cache_read": cached}

    def answers() -> Iterator[AIMessage]:
        while True:
            yield AIMessage(
                content=answer, usage_metadata=usage, response_metadata={"model_name": model}
            )

    return ScriptedChatModel(messages=answers(), model_name=model)


class ChecklistRetriever(BaseRetriever):
    """Returns the checklist entries that share a word with the query."""

    docs: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = set(query.lower().split())
        return [d for d in self.docs if words & set(d.page_content.lower().split())]


CHECKLIST = [
    Document(
        page_content="bump the version in pyproject and the changelog",
        metadata={"source": "RELEASING.md#version"},
    ),
    Document(
        page_content="every public function needs type hints and a docstring",
        metadata={"source": "CONTRIBUTING.md#style"},
    ),
    Document(
        page_content="run the full test suite before tagging a release",
        metadata={"source": "RELEASING.md#tests"},
    ),
    Document(
        page_content="the office coffee machine is descaled on fridays",
        metadata={"source": "wiki/office"},
    ),
]


@tool
def run_test_suite(package: str) -> str:
    """Run the package's test suite and return the summary line."""
    time.sleep(0.02)
    return f"{package}: 128 passed, 0 failed, 3 skipped in 4.2s"


@tool
def publish_package(package: str, version: str) -> str:
    """Publish a built package (dry run: nothing leaves the machine)."""
    time.sleep(0.01)
    return (
        f"dry run: would upload {package}-{version}.tar.gz and {package}-{version}-py3-none-any.whl"
    )


def build_release_graph() -> Any:
    """The compiled three-node release graph (named :data:`WORKFLOW`)."""
    coder = scripted_model(
        "gpt-4o", "def changelog_entry(v): return f'## {v}'", 412, 96, cached=128
    )
    tester = scripted_model("gpt-4o-mini", "All 128 tests pass; coverage unchanged.", 260, 34)
    releaser = scripted_model("gpt-4o-mini", "1.4.0: changelog helper; faster store.", 198, 41)
    retriever = ChecklistRetriever(docs=CHECKLIST)

    def write_code(state: ReleaseState, config: RunnableConfig) -> ReleaseState:
        docs = retriever.invoke("version changelog docstring", config)
        guide = "\n".join(d.page_content for d in docs)
        change = coder.invoke(f"Checklist:\n{guide}\nWrite the changelog helper.", config)
        return {"change": str(change.content), "log": [f"wrote change ({len(docs)} rules)"]}

    def run_tests(state: ReleaseState, config: RunnableConfig) -> ReleaseState:
        report = run_test_suite.invoke({"package": state["package"]}, config)
        review = tester.invoke(f"Review this test report: {report}", config)
        return {"test_report": str(review.content), "log": [str(report)]}

    def release(state: ReleaseState, config: RunnableConfig) -> ReleaseState:
        notes = releaser.invoke(f"Release notes for {state['version']}: {state['change']}", config)
        published = publish_package.invoke(
            {"package": state["package"], "version": state["version"]}, config
        )
        return {"release_notes": str(notes.content), "log": [str(published)]}

    graph = StateGraph(ReleaseState)
    graph.add_node("write_code", write_code, metadata={"persona": PERSONAS["write_code"]})
    graph.add_node("run_tests", run_tests, metadata={"persona": PERSONAS["run_tests"]})
    graph.add_node("release", release, metadata={"persona": PERSONAS["release"]})
    graph.add_edge(START, "write_code")
    graph.add_edge("write_code", "run_tests")
    graph.add_edge("run_tests", "release")
    graph.add_edge("release", END)
    return graph.compile(name=WORKFLOW)


@dataclass(frozen=True)
class DemoResult:
    """What one demo run left behind."""

    store_path: Path
    trace_id: str | None  #: the run's trace in the store (None if it did not land)
    state: dict[str, Any]
    flushed: bool  #: every sink exported the run within the flush timeout
    sinks: list[tuple[str, str]]  #: (sink name, why it is on or off)


def run_demo(store_path: Path | str | None = None) -> DemoResult:
    """Run the release graph once with ``CallbackHandler()`` (the default sinks), flush,
    and find the run's trace in the local store."""
    from .adapters.langchain import CallbackHandler
    from .config import Settings
    from .sinks.auto import describe
    from .store import LocalStore

    settings = Settings.resolve(store_path=store_path)
    described = describe(settings)
    sinks = [sink for _, sink, _ in described if sink is not None]
    handler = CallbackHandler(sinks=sinks, settings=settings)
    started_ns = time.time_ns()
    try:
        state = build_release_graph().invoke(
            {"package": "acme-widgets", "version": "1.4.0", "log": []},
            config={
                "callbacks": [handler],
                "metadata": {"tenant": "demo", "user_id": "release-bot"},
                "tags": ["demo"],
            },
        )
        flushed = handler.flush()
    finally:
        handler.shutdown()
    with LocalStore(settings.store_path) as store:
        found = store.traces(workflow=WORKFLOW, since_ns=started_ns, limit=1)
    return DemoResult(
        store_path=settings.store_path,
        trace_id=found[0]["trace_id"] if found else None,
        state=dict(state),
        flushed=flushed,
        sinks=[(name, reason) for name, _, reason in described],
    )
