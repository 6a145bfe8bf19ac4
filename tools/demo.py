"""Try the operations tools without a cluster: the `dev` stack as a stub fleet on loopback.

    python -m tools.demo                 # until Ctrl-C
    python -m tools.demo --scrape 1s     # Prometheus's scrape and rule interval

Starts a stub fleet of the dev stack's logical nodes (tools.stubnode: 4 validators, f = 1,
2 business and 2 slim nodes), and, when they are installed, real Prometheus and HAProxy on
configs made by the project's own renderers, pointed at the fleet. It writes the stack
outputs the tools read (the program's own outputs for dev, with these endpoints) and prints
what to run next: the smoke test and the failover drill. Ctrl-C stops everything.

The loopback integration tests run on the same code (LoopbackCluster).
"""

from __future__ import annotations

import errno
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model.topology import build_topology
from render.alertmanager import Receivers, render_alertmanager_config
from render.haproxy import render_haproxy_config
from render.prometheus import render_alert_rules, render_prometheus_config
from tools.mockrun import run_program, stack_settings
from tools.ops import Prometheus, poll
from tools.stubnode import Fleet

STACK = "dev"


def free_port() -> int:
    """A TCP port free on loopback right now, for a server about to start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """The first truthy value of condition(); any exception means a service still starting."""
    value, _ = poll(condition, timeout, tolerate=(Exception,))
    if not value:
        raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
    return value


def _wait_ready(url: str, name: str) -> None:
    """Until a Prometheus-style server answers 200 on /-/ready."""
    wait_until(lambda: urllib.request.urlopen(url + "/-/ready", timeout=2).status == 200, what=f"{name} to be ready")


class LoopbackCluster:
    """A stack's stub fleet (the dev stack's by default) with real Prometheus and HAProxy in
    front, on 127.0.0.1.

    Use as a context manager; `outputs` and `outputs_file` are what the tools read.
    """

    def __init__(
        self,
        workdir: Path,
        scrape: str = "1s",
        prometheus_bin: str | None = None,
        haproxy_bin: str | None = None,
        election_timeout: float = 1.0,
        alertmanager_bin: str | None = None,
        alert_webhook: str | None = None,
        stack: str = STACK,
    ):
        self.workdir, self.scrape, self.stack = workdir, scrape, stack
        self.prometheus_bin, self.haproxy_bin = prometheus_bin, haproxy_bin
        # Alertmanager on the project's rendered config, its one receiver the webhook given.
        self.alertmanager_bin, self.alert_webhook = alertmanager_bin, alert_webhook
        self.election_timeout = election_timeout
        self.processes: list[subprocess.Popen] = []
        self.fleet: Fleet | None = None

    def __enter__(self) -> LoopbackCluster:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start(self) -> None:
        settings = stack_settings(self.stack)
        topology = build_topology(settings)
        self.fleet = Fleet(topology, election_timeout=self.election_timeout)
        self.control = f"http://127.0.0.1:{self.fleet.start()}"
        addresses = self.fleet.addresses()
        address = lambda node: addresses[node.name]  # noqa: E731
        # The program's own outputs for the stack, with the endpoints where this runs them.
        self.outputs: dict[str, Any] = json.loads(json.dumps(run_program(self.stack).outputs))
        endpoints = self.outputs["endpoints"]
        alertmanagers: tuple[str, ...] = ()
        if self.alertmanager_bin:
            port = free_port()
            (self.workdir / "alertmanager.yml").write_text(
                render_alertmanager_config(
                    Receivers(webhook_url=self.alert_webhook),
                    "1s",
                    "1s",
                    "1h",
                    scrape_interval=self.scrape,
                    evaluation_interval=self.scrape,
                )
            )
            self._spawn(
                [
                    self.alertmanager_bin,
                    f"--config.file={self.workdir / 'alertmanager.yml'}",
                    f"--storage.path={self.workdir / 'alertmanager'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                ]
            )
            alertmanagers = (f"127.0.0.1:{port}",)
            endpoints["alertmanager"] = f"http://127.0.0.1:{port}"
            _wait_ready(endpoints["alertmanager"], "Alertmanager")
        if self.prometheus_bin:
            port = free_port()
            rules = self.workdir / "rules.yml"
            rules.write_text(render_alert_rules(settings.density, topology.fault_budget))
            (self.workdir / "prometheus.yml").write_text(
                render_prometheus_config(
                    topology,
                    self.scrape,
                    self.scrape,
                    address=address,
                    exporters=(),
                    rule_files=(str(rules),),
                    alertmanagers=alertmanagers,
                )
            )
            self._spawn(
                [
                    self.prometheus_bin,
                    f"--config.file={self.workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ]
            )
            endpoints["prometheus"] = f"http://127.0.0.1:{port}"
        if self.haproxy_bin:
            api_port, stats_port = free_port(), free_port()
            (self.workdir / "haproxy.cfg").write_text(
                render_haproxy_config(
                    topology,
                    address=address,
                    bind_host="127.0.0.1",
                    api_port=api_port,
                    stats_port=stats_port,
                    docker_dns=False,
                )
            )
            self._spawn([self.haproxy_bin, "-db", "-f", str(self.workdir / "haproxy.cfg")])
            endpoints.update(api=f"http://127.0.0.1:{api_port}/api/v11", haproxyStats=f"http://127.0.0.1:{stats_port}")
        self.outputs_file = self.workdir / "outputs.json"
        self.outputs_file.write_text(json.dumps(self.outputs, indent=1))
        self.prometheus = Prometheus(endpoints["prometheus"])
        if self.prometheus_bin:
            _wait_ready(endpoints["prometheus"], "Prometheus")

    def _spawn(self, argv: list[str]) -> None:
        self.processes.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def post(self, path: str) -> None:
        """A call to the stub fleet's control API (/containers/NAME/stop, ...)."""
        urllib.request.urlopen(urllib.request.Request(self.control + path, method="POST", data=b""), timeout=5)

    def node_values(self, promql: str) -> dict[str, float]:
        return self.prometheus.values(promql, "node")

    def healthy(self) -> bool:
        """Every node up in Prometheus, one leader, one term."""
        up = self.node_values('up{job=~"aurigraph-.*"}')
        return (
            len(up) == len(self.outputs["nodes"])
            and all(v == 1.0 for v in up.values())
            and sum(self.node_values('consensus_is_leader{job="aurigraph-validator"}').values()) == 1
            and len(set(self.node_values('consensus_term{job="aurigraph-validator"}').values())) == 1
        )

    def wait_healthy(self, timeout: float = 30.0) -> None:
        wait_until(self.healthy, timeout, what="every node up and one leader in Prometheus")

    def stop(self) -> None:
        for p in self.processes:
            p.terminate()
        for p in self.processes:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.processes = []
        if self.fleet is not None:
            self.fleet.stop()
            self.fleet = None


def main(argv: list[str] | None = None) -> int:
    from tools.ops import ToolParser

    parser = ToolParser(
        prog="python -m tools.demo",
        description=__doc__.split("\n\n")[0],
        epilog="exit codes: 0 stopped with Ctrl-C, 1 could not start",
    )
    parser.add_argument("--scrape", default="1s", help="Prometheus scrape and rule evaluation interval")
    args = parser.parse_args(argv)
    prometheus_bin, haproxy_bin = shutil.which("prometheus"), shutil.which("haproxy")
    missing = [name for name, path in (("prometheus", prometheus_bin), ("haproxy", haproxy_bin)) if not path]
    # Ctrl-C and `kill` both stop it cleanly, even where SIGINT came in ignored (a background job).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    print(
        f"demo: starting the {STACK} stack's stub fleet" + ("" if missing else " with real Prometheus and HAProxy"),
        flush=True,
    )
    try:
        with (
            tempfile.TemporaryDirectory(prefix="aurigraph-demo-") as tmp,
            LoopbackCluster(Path(tmp), args.scrape, prometheus_bin, haproxy_bin) as cluster,
        ):
            if not missing:
                print("demo: waiting up to 30 s for every node to be up in Prometheus", flush=True)
                cluster.wait_healthy()
            _print_next_steps(cluster, missing)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("\ndemo: stopped", flush=True)
        return 0
    except OSError as e:
        busy = " (is another demo, or the loopback tests, running?)" if e.errno == errno.EADDRINUSE else ""
        print(f"demo: could not start: {e.strerror or e}{busy}", file=sys.stderr)
        return 1
    except TimeoutError as e:
        print(f"demo: could not start: {e}", file=sys.stderr)
        return 1


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _print_next_steps(cluster: LoopbackCluster, missing: list[str]) -> None:
    e = cluster.outputs["endpoints"]
    outputs = cluster.outputs_file
    print(f"demo: {len(cluster.outputs['nodes'])} logical nodes; stub control API {cluster.control}")
    if missing:
        print(
            f"demo: {' and '.join(missing)} not installed (Debian: apt-get install {' '.join(missing)}); "
            "the smoke test and the drill need both"
        )
    else:
        print(f"demo: Prometheus {e['prometheus']}, API {e['api']}, HAProxy stats {e['haproxyStats']}")
    print("\nIn another terminal, from the repository:")
    print(f"  venv/bin/python -m tools.smoke --outputs {outputs}")
    print(f"  venv/bin/python -m tools.drill failover --outputs {outputs} --stub-control {cluster.control}")
    print(f"  curl -X POST {cluster.control}/containers/validator-1/stop    # then smoke again: DEGRADED")
    print(f"  curl -X POST {cluster.control}/containers/validator-1/start")
    print("\nCtrl-C stops the demo.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
