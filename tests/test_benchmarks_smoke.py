"""The benchmark runner, run tiny: every variant that can run prints figures and has its
spans verified at their destinations; a peer that is not installed is reported skipped.
The processes of a mode are interleaved in chunks, and each variant gets its paired noise
figures against the floor."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.receiver import OTLPCounter, count_spans, fetch_counts
from benchmarks.variants import PEERS, VARIANTS

from .conftest import require

REPO = Path(__file__).resolve().parent.parent

PEER_MODULES = {
    "langfuse": "langfuse.langchain",
    "openinference": "openinference.instrumentation.langchain",
    "openllmetry": "opentelemetry.instrumentation.langchain",
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.unit
def test_count_spans_reads_a_real_otlp_request():
    trace_pb2 = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    req = trace_pb2.ExportTraceServiceRequest()
    for n_scopes in (2, 1):
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name").value.string_value = "x"
        for _ in range(n_scopes):
            ss = rs.scope_spans.add()
            ss.scope.name = "scope"
            for i in range(3):
                span = ss.spans.add()
                span.name = f"span {i}"
                span.trace_id = bytes(16)
                span.start_time_unix_nano = 1_700_000_000_000_000_000
    assert count_spans(req.SerializeToString()) == 9
    assert count_spans(b"") == 0


@pytest.mark.unit
def test_receiver_counts_gzip_and_plain_posts():
    import gzip
    from urllib.request import Request, urlopen

    trace_pb2 = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    req = trace_pb2.ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for _ in range(4):
        ss.spans.add().name = "s"
    body = req.SerializeToString()
    with OTLPCounter() as receiver:
        for path, data, headers in (
            ("/v1/traces", body, {}),
            ("/api/public/otel/v1/traces", gzip.compress(body), {"Content-Encoding": "gzip"}),
        ):
            with urlopen(Request(receiver.url + path, data=data, headers=headers), timeout=5):
                pass
        counts = fetch_counts(receiver.url)
    assert counts["spans"] == {"/v1/traces": 4, "/api/public/otel/v1/traces": 4}


@pytest.mark.e2e
@pytest.mark.slow
def test_smoke_run_measures_and_verifies_every_variant(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    outcomes = {(o["mode"], o["variant"]): o for o in json.loads(out.read_text())}
    expected = {(m, v) for m in ("sync", "async") for v in VARIANTS}
    expected.discard(("sync", "empty-hop"))
    assert set(outcomes) == expected

    for (mode, variant), o in outcomes.items():
        if o["status"] == "skipped":
            assert variant in PEERS, o
            assert not _installed(PEER_MODULES[variant]), f"{variant} is installed: {o}"
            continue
        assert o["status"] == "ok", o
        s = o["summary"]
        assert s["verified"], o
        assert s["n"] == 30 and s["p50_us"] > 0 and s["cpu_us"] > 0 and s["peak_rss_mib"] > 0
        assert o["method"]["chunk"] == 10 and o["method"]["n"] == 30, o["method"]
        if variant == "observe-null":
            assert s["spans_emitted"] == 0, s  # its sink discards: nothing to count
        elif variant.startswith("observe-"):
            assert s["spans_emitted"] == 14, s
        if variant != "empty":  # 30 invocations in chunks of 10: three paired cycles
            assert s["paired_over"]["cycles"] == 3, s
            assert s["paired_cpu"]["q25"] <= s["paired_cpu"]["median"] <= s["paired_cpu"]["q75"]
        elif variant in PEERS:
            assert s["spans_emitted"] >= 1, s
        # its row is in the printed table, with figures
        block = proc.stdout.split(f"[{mode}:")[1].split("\n[")[0]
        assert re.search(rf"^{re.escape(variant)}\s+30\s+\d+\s+\d+", block, re.M), block

    for peer in PEERS:
        require(_installed(PEER_MODULES[peer]), f"{peer} is not installed (the bench extra)")
        assert outcomes[("sync", peer)]["status"] == "ok"
    assert "Goals (on the pooled figures" in proc.stdout
    assert "Interleaved: 1 process per variant and mode, all of a mode alive at once" in proc.stdout
    assert proc.stdout.count("noise, paired per cycle against 'empty' (3 cycles)") == 2
