"""A stub fleet: logical nodes that speak the node API and metrics, for testing the operations tools.

    python -m tools.stubnode --stack dev --control-port 7000

Each container of the stack's topology becomes one loopback address (127.X.Y.<i>, as if it
had its own network namespace; X.Y a block found free at start, so that two fleets on one
machine never collide), and each of its logical nodes listens on that address at its real HTTP
port. Validators run a small consensus model: one leader; when it stops, the others
elect a new one after an election timeout, but only while at least n - f validators are up;
every live validator reports the same state hash for each checkpoint.

A control API (the stand-in for `docker stop/start`) switches containers and nodes:
    POST /containers/<name>/stop | start        the container's nodes stop / start answering
                                                (<name>: validator-1, or its Docker name dev-validator-1)
    POST /nodes/<name>/unhealthy | healthy      readiness 503 / 200
    POST /nodes/<name>/slow | fast              latency x 5 / normal
    POST /nodes/<name>/diverge | converge       a wrong / the right state hash
    POST /leader/demote                         the leader steps down (a new election)
    GET  /status                                leader, term, containers running
    GET  /addresses                             logical node -> host:port
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from model.topology import HEALTH_PATH, METRICS_PATH, LogicalNode, Topology, bft_fault_budget

# Loopback blocks (127.X.Y) tried before the fleet gives up finding one that is free.
ADDRESS_TRIES = 20

TPS_PER_VALIDATOR = 300_000
LATENCY_MS = {"0.5": 80.0, "0.95": 120.0, "0.99": 200.0}


@dataclass
class NodeState:
    node: LogicalNode
    address: str
    healthy: bool = True
    slow: bool = False
    diverged: bool = False


@dataclass
class Fleet:
    topology: Topology
    election_timeout: float = 1.0
    nodes: dict[str, NodeState] = field(default_factory=dict)
    running: dict[str, bool] = field(default_factory=dict)
    leader: str | None = None
    term: int = 1
    elections: int = 0
    height: int = 0
    leaderless_since: float | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    servers: list[ThreadingHTTPServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        for container in self.topology.containers:
            self.running[container.name] = True
            for node in container.nodes:
                self.nodes[node.name] = NodeState(node, "")
        self.leader = self.validators()[0]

    def _place(self, block: str) -> None:
        """Container i on address block.i, each node at its own HTTP port."""
        for i, container in enumerate(self.topology.containers, start=1):
            for node in container.nodes:
                self.nodes[node.name].address = f"{block}.{i}:{node.http_port}"

    # -- consensus model ------------------------------------------------------------------
    def validators(self) -> list[str]:
        return [n.name for n in self.topology.group("validator").nodes]

    def alive(self, name: str) -> bool:
        return self.running[self.nodes[name].node.container]

    def quorate(self) -> bool:
        n = len(self.validators())
        return sum(self.alive(v) for v in self.validators()) >= n - bft_fault_budget(n)

    def tick(self) -> None:
        with self.lock:
            if self.leader is not None and self.alive(self.leader) and self.quorate():
                self.height += 1
                return
            if self.leader is not None:  # lost its leader, or its quorum
                self.leader, self.leaderless_since = None, time.monotonic()
            if self.quorate() and time.monotonic() - (self.leaderless_since or 0) >= self.election_timeout:
                self.leader = next(v for v in self.validators() if self.alive(v))
                self.term += 1
                self.elections += 1

    def checkpoint(self) -> int:
        return self.height // 50  # a checkpoint every 50 blocks (5 s at one block per tick)

    def state_hash(self, name: str) -> str:
        digest = hashlib.sha256(f"checkpoint-{self.checkpoint()}".encode()).hexdigest()[:16]
        return "0" * 16 if self.nodes[name].diverged else digest

    # -- what a node answers --------------------------------------------------------------
    def consensus_status(self, name: str) -> dict:
        with self.lock:
            return {
                "node": name,
                "term": self.term,
                "leader": self.leader,
                "role": "leader" if name == self.leader else "follower",
                "quorum": self.quorate(),
                "stateHash": self.state_hash(name),
            }

    def metrics(self, name: str) -> str:
        state = self.nodes[name]
        is_validator = state.node.group == "validator"
        with self.lock:
            producing = is_validator and self.leader is not None
            factor = 5.0 if state.slow else 1.0
            lines = [f"transaction_rate {TPS_PER_VALIDATOR if producing else 0}"]
            lines += [f'finality_latency_ms{{quantile="{q}"}} {v * factor}' for q, v in LATENCY_MS.items()]
            lines += [
                f"consensus_log_replication_latency_ms {15 * factor}",
                "leveldb_cache_hit_ratio 0.92",
                'jvm_memory_used_bytes{area="heap"} 15000000',
                "process_cpu_usage 0.65",
            ]
            if is_validator:
                lines += [
                    f"consensus_leader_elections_total {self.elections}",
                    f"consensus_term {self.term}",
                    f"consensus_is_leader {1 if name == self.leader else 0}",
                    f'consensus_state_hash_info{{checkpoint="{self.checkpoint()}",hash="{self.state_hash(name)}"}} 1',
                ]
        return "\n".join(lines) + "\n"

    # -- control --------------------------------------------------------------------------
    def control(self, path: str) -> dict:
        parts = path.strip("/").split("/")
        if parts[:1] == ["containers"] and len(parts) == 3:
            # Docker names (<stack>-validator-1), as `docker stop` is given, or the short ones.
            parts[1] = parts[1].removeprefix(f"{self.topology.stack}-")
        with self.lock:
            if parts[:1] == ["containers"] and len(parts) == 3 and parts[1] in self.running:
                self.running[parts[1]] = parts[2] == "start"
            elif parts[:1] == ["nodes"] and len(parts) == 3 and parts[1] in self.nodes:
                state, action = self.nodes[parts[1]], parts[2]
                flags = {
                    "unhealthy": ("healthy", False),
                    "healthy": ("healthy", True),
                    "slow": ("slow", True),
                    "fast": ("slow", False),
                    "diverge": ("diverged", True),
                    "converge": ("diverged", False),
                }
                if action not in flags:
                    raise KeyError(action)
                setattr(state, *flags[action])
            elif parts == ["leader", "demote"]:
                self.leader, self.leaderless_since = None, time.monotonic()
            else:
                raise KeyError(path)
            return self.status()

    def status(self) -> dict:
        with self.lock:
            return {"leader": self.leader, "term": self.term, "quorum": self.quorate(), "running": dict(self.running)}

    def addresses(self) -> dict[str, str]:
        return {name: state.address for name, state in self.nodes.items()}

    # -- serving --------------------------------------------------------------------------
    def start(self, control_port: int = 0) -> int:
        """Serve every node on a loopback block nobody else uses (another fleet, another test run),
        and the control API on `control_port` (0: any free one); returns the control port."""
        for _ in range(ADDRESS_TRIES):
            self._place(f"127.{random.randrange(2, 255)}.{random.randrange(0, 256)}")
            try:
                for state in self.nodes.values():
                    host, port = state.address.rsplit(":", 1)
                    self._serve(host, int(port), _node_handler(self, state.node.name))
                break
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                self.stop()
        else:
            raise OSError(errno.EADDRINUSE, f"no free loopback block for the stub fleet in {ADDRESS_TRIES} tries")
        control = self._serve("127.0.0.1", control_port, _control_handler(self))
        threading.Thread(target=self._ticker, daemon=True).start()
        return control.server_address[1]

    def _serve(self, host: str, port: int, handler) -> ThreadingHTTPServer:
        server = _QuietServer((host, port), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        return server

    def _ticker(self) -> None:
        while self.servers:
            self.tick()
            time.sleep(0.1)

    def stop(self) -> None:
        servers, self.servers = self.servers, []
        # Each shutdown waits for its server's next poll (0.5 s): all at once, not one after another.
        stopping = [threading.Thread(target=server.shutdown) for server in servers]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        for server in servers:
            server.server_close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # Health checkers (HAProxy) hang up as soon as they have the status line.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def reply(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _node_handler(fleet: Fleet, name: str):
    class NodeHandler(_Handler):
        def do_GET(self) -> None:
            state = fleet.nodes[name]
            if not fleet.alive(name):
                # A stopped container: the connection is cut, as when nothing listens.
                self.close_connection = True
                self.connection.close()
                return
            if state.slow:
                time.sleep(0.05)
            node = state.node
            path = self.path.split("?")[0]
            if path == HEALTH_PATH:
                up = state.healthy
                self.reply(200 if up else 503, json.dumps({"status": "UP" if up else "DOWN"}))
            elif path == METRICS_PATH:
                self.reply(200, fleet.metrics(name), "text/plain; version=0.0.4")
            elif path == "/api/v11/info":
                self.reply(
                    200, json.dumps({"node": name, "group": node.group, "container": node.container, "version": "stub"})
                )
            elif path == "/api/v11/stats":
                self.reply(
                    200,
                    json.dumps(
                        {"node": name, "tps": TPS_PER_VALIDATOR if fleet.leader else 0, "p95Ms": LATENCY_MS["0.95"]}
                    ),
                )
            elif path == "/api/v11/consensus/status":
                self.reply(200, json.dumps(fleet.consensus_status(name)))
            else:
                self.reply(404, json.dumps({"error": "not found"}))

    return NodeHandler


def _control_handler(fleet: Fleet):
    class ControlHandler(_Handler):
        def do_GET(self) -> None:
            if self.path == "/status":
                self.reply(200, json.dumps(fleet.status()))
            elif self.path == "/addresses":
                self.reply(200, json.dumps(fleet.addresses()))
            else:
                self.reply(404, "{}")

        def do_POST(self) -> None:
            try:
                self.reply(200, json.dumps(fleet.control(self.path)))
            except KeyError:
                self.reply(404, json.dumps({"error": f"unknown control {self.path}"}))

    return ControlHandler


def main(argv: list[str] | None = None) -> int:
    from model.topology import build_topology
    from tools.mockrun import stack_settings

    parser = argparse.ArgumentParser(prog="python -m tools.stubnode", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="the stack whose topology to serve")
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--election-timeout", type=float, default=1.0, help="seconds before a new leader")
    args = parser.parse_args(argv)
    fleet = Fleet(build_topology(stack_settings(args.stack)), election_timeout=args.election_timeout)
    port = fleet.start(args.control_port)
    print(json.dumps({"control": f"http://127.0.0.1:{port}", "addresses": fleet.addresses()}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fleet.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
