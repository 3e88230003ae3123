"""A package release, run by three personas: backend-engineer → testing-specialist →
devops-engineer, with token/USD budgets and quality gates from ``release.yaml``.

Run it (no network: the models are scripted fakes that report usage like real providers)::

    python examples/release_workflow.py            # prints spans, budgets, gates, costs
    langgraph-observe traces list                  # then browse the local store

``--store PATH`` writes the traces to ``PATH`` instead of the default local store.

The nodes are plain LangGraph nodes; :class:`ReleaseWorkflow` only adds the observation.
"""

from __future__ import annotations

import argparse
import operator
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph

from langgraph_observe import ObservedWorkflow, persona, rag

HERE = Path(__file__).resolve().parent


class ScriptedModel(GenericFakeChatModel):
    """A fake chat model with a model name, answering ``text`` with fixed usage."""

    model_name: str

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}


def scripted(
    model: str, text: str, inp: int, out: int, *, cache_read: int = 0, cache_write: int = 0
) -> ScriptedModel:
    usage: dict[str, Any] = {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}
    details = {k: v for k, v in (("cache_read", cache_read), ("cache_creation", cache_write)) if v}
    if details:
        usage["input_token_details"] = details

    def answers() -> Iterator[AIMessage]:
        while True:
            yield AIMessage(content=text, usage_metadata=usage)  # type: ignore[arg-type]

    return ScriptedModel(model_name=model, messages=answers())


#: The calls of one release: (model, input tokens, output tokens, cache reads, cache writes)
CALLS = {
    "write_code": ("gpt-4o", 1200, 300, 400, 0),
    "write_tests": ("claude-3-5-haiku", 600, 150, 0, 200),
    "run_tests": ("gpt-4o-mini", 900, 100, 0, 0),
    "build_package": ("claude-sonnet-4-5", 700, 200, 0, 0),
}
EMBEDDING_TOKENS = 50  #: text-embedding-3-small tokens of the release-notes lookup


class State(TypedDict, total=False):
    version: str
    log: Annotated[list[str], operator.add]
    code: str
    coverage: float
    failed: int
    artifact: str
    published: bool


def models(calls: dict[str, tuple[str, int, int, int, int]] = CALLS) -> dict[str, Any]:
    return {
        step: scripted(m, f"{step} done", i, o, cache_read=r, cache_write=w)
        for step, (m, i, o, r, w) in calls.items()
    }


class ReleaseWorkflow(ObservedWorkflow):
    """write_code → run_tests → build_package → publish."""

    name = "package-release"
    config = HERE / "release.yaml"

    def __init__(
        self,
        *args: Any,
        coverage: float = 0.86,
        failed: int = 0,
        calls: dict[str, tuple[str, int, int, int, int]] = CALLS,
        **kwargs: Any,
    ):
        self.coverage = coverage
        self.failed = failed
        self.models = models(calls)
        super().__init__(*args, **kwargs)

    def build_graph(self) -> StateGraph[State]:
        m = self.models

        def write_code(state: State) -> State:
            code = m["write_code"].invoke(f"implement release {state['version']}").content
            with persona("testing-specialist"):  # the tests are written by the tester
                m["write_tests"].invoke("write unit tests for the change")
            return {"code": str(code), "log": ["code written"]}

        def run_tests(state: State) -> State:
            m["run_tests"].invoke("run the test suite and summarise")
            return {"coverage": self.coverage, "failed": self.failed, "log": ["tests run"]}

        def build_package(state: State) -> State:
            with rag.memory("read", namespace="release-notes") as step:
                with rag.embedding(model="text-embedding-3-small") as emb:
                    emb.usage(input_tokens=EMBEDDING_TOKENS)
                step.set(items=3)
            m["build_package"].invoke("build the wheel and write the release notes")
            return {"artifact": f"pkg-{state['version']}.whl", "log": ["built"]}

        def publish(state: State) -> State:
            return {"published": True, "log": [f"published {state['artifact']}"]}

        g = StateGraph(State)
        for fn in (write_code, run_tests, build_package, publish):
            g.add_node(fn.__name__, fn)
        g.add_edge(START, "write_code")
        g.add_edge("write_code", "run_tests")
        g.add_edge("run_tests", "build_package")
        g.add_edge("build_package", "publish")
        g.add_edge("publish", END)
        return g


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="A package release run by three personas, with the token/USD budgets and "
        "quality gates of release.yaml; prints spans, budgets, gates and costs."
    )
    parser.add_argument(
        "--store", metavar="PATH", help="SQLite store (default: the library's default)"
    )
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)  # the store, as before --store
    args = parser.parse_args(argv)
    if args.path is not None:
        if args.store is not None:
            parser.error("give the store once: --store PATH")
        args.store = args.path
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from langgraph_observe import persona_time
    from langgraph_observe.events import BudgetUpdate, PersonaSwitch, ScoreRecord
    from langgraph_observe.sinks.local import LocalStoreSink
    from langgraph_observe.testing import InMemorySink

    args = parse_args(argv)
    memory = InMemorySink()
    local = LocalStoreSink(args.store)
    release = ReleaseWorkflow(sinks=[memory, local], tenant="acme")
    out = release.invoke({"version": "1.2.0", "log": []}, user_id="release-bot")
    release.shutdown()
    print("result:", out["log"])
    spans = memory.spans()
    print("\npersona switches:")
    for switch in memory.of_type(PersonaSwitch):
        print(f"  {switch.from_persona} -> {switch.to_persona}")
    print("\nmodel calls:")
    for s in spans:
        if s.cost_usd is not None:
            print(
                f"  {s.persona:20} {s.model:24} {s.usage.total if s.usage else 0:6} tokens"
                f"  ${s.cost_usd:.6f}"
            )
    print("\nbudgets (last update per persona):")
    updates = memory.of_type(BudgetUpdate)
    warned = {u.persona for u in updates if u.warned}
    for u in {u.persona: u for u in updates}.values():
        flag = "  WARNED" if u.persona in warned else ""
        print(f"  {u.persona:20} used {u.used_tokens}/{u.budget_tokens} tokens{flag}")
    print("\ngates:")
    for g in memory.of_type(ScoreRecord):
        print(f"  {g.name:12} {'pass' if g.passed else 'FAIL'}  value={g.value}")
    print("\nseconds per persona:", {k: round(v, 4) for k, v in persona_time(spans).items()})
    show = f"langgraph-observe traces show {release.last_trace_id} --store {local.path}"
    print(f"\nlook further: {show}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
