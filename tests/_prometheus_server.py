"""A real Prometheus and Pushgateway on 127.0.0.1, started once per test session.

Prometheus scrapes, every second, a metrics HTTP server the fixture starts (serving a fresh
``CollectorRegistry``) and the Pushgateway; it also loads the shipped alert rules. Every
process started here is stopped at the end of the session.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from langgraph_observe.exposition import MetricsServer, start_metrics_server

from .conftest import require

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return bytes(resp.read())


class _Daemon:
    """A server process whose output goes to a log file; stopped by :meth:`stop`."""

    def __init__(self, cmd: list[str], log: Path, ready_url: str) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{cmd[0]} exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                http_get(ready_url, timeout=1)
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{cmd[0]} not ready in 30 s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log_file.close()


@dataclass
class PromStack:
    """What the session fixture hands the tests."""

    prometheus: str  #: base URL of Prometheus
    gateway: str  #: ``127.0.0.1:port`` of the Pushgateway
    registry: CollectorRegistry  #: what the scraped metrics server serves
    metrics: MetricsServer

    def query(self, expr: str) -> dict[str, Any]:
        """The JSON answer of an instant query (``status`` is ``success`` or ``error``)."""
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            body = http_get(url)
        except urllib.error.HTTPError as err:  # 400 for a query that does not parse
            body = err.read()
        answer: dict[str, Any] = json.loads(body)
        return answer

    def scalar(self, expr: str) -> float | None:
        """The value of a query that yields at most one series (None when it yields none)."""
        answer = self.query(expr)
        assert answer["status"] == "success", answer
        result = answer["data"]["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_for(
        self, expr: str, ok: Callable[[float | None], bool], timeout: float = 40.0
    ) -> float | None:
        """Poll ``expr`` until ``ok(value)``; return the last value (scrapes come every 1 s)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.scalar(expr)
            if ok(value) or time.monotonic() > deadline:
                return value
            time.sleep(0.25)

    def rules(self) -> list[dict[str, Any]]:
        answer = json.loads(http_get(f"{self.prometheus}/api/v1/rules"))
        return [r for g in answer["data"]["groups"] for r in g["rules"]]


@pytest.fixture(scope="session")
def prom_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromStack]:
    for binary in ("prometheus", "prometheus-pushgateway"):
        require(
            shutil.which(binary) is not None,
            f"{binary} is not installed (run scripts/install-system-deps.sh)",
        )
    tmp = tmp_path_factory.mktemp("prometheus")
    registry = CollectorRegistry()
    metrics = start_metrics_server(0, registry=registry)
    started: list[_Daemon] = []
    try:
        gw_port = free_port()
        started.append(
            _Daemon(
                ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{gw_port}"],
                tmp / "pushgateway.log",
                f"http://127.0.0.1:{gw_port}/-/ready",
            )
        )
        shutil.copy(ALERTS, tmp / "alerts.yml")
        (tmp / "prometheus.yml").write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(tmp / "alerts.yml")],
                    "scrape_configs": [
                        {
                            "job_name": "app",
                            "static_configs": [{"targets": [f"127.0.0.1:{metrics.port}"]}],
                        },
                        {
                            "job_name": "pushgateway",
                            "honor_labels": True,
                            "static_configs": [{"targets": [f"127.0.0.1:{gw_port}"]}],
                        },
                    ],
                }
            )
        )
        port = free_port()
        started.append(
            _Daemon(
                [
                    "prometheus",
                    f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                tmp / "prometheus.log",
                f"http://127.0.0.1:{port}/-/ready",
            )
        )
        yield PromStack(f"http://127.0.0.1:{port}", f"127.0.0.1:{gw_port}", registry, metrics)
    finally:
        for daemon in reversed(started):
            daemon.stop()
        metrics.shutdown()
