"""kubectl for the drills on a target-kubernetes stack: commands in pods (`kubectl exec`), the
in-cluster endpoints forwarded to this machine (`kubectl port-forward`), and evictions.

The drills use the operator's own kubectl and kubeconfig (`--kubeconfig`, `--context`, else
KUBECONFIG and its current context), so whatever authenticates them (tokens, certificates, exec
plugins) and whatever RBAC allows them is what the drills get. KUBECTL names another binary.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from tools.ops import OpsError

# What `kubectl port-forward` prints once it listens: "Forwarding from 127.0.0.1:PORT -> PORT".
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> \d+")


class Kubectl:
    def __init__(
        self, namespace: str, kubeconfig: str | None = None, context: str | None = None, binary: str | None = None
    ):
        self.namespace = namespace
        self.prefix = [binary or os.environ.get("KUBECTL", "kubectl")]
        self.prefix += ["--kubeconfig", kubeconfig] if kubeconfig else []
        self.prefix += ["--context", context] if context else []
        self.prefix += ["--namespace", namespace]

    def argv(self, *args: str) -> list[str]:
        return [*self.prefix, *args]

    def run(self, *args: str, stdin: str | None = None, what: str) -> str:
        """kubectl's stdout; OpsError with what kubectl said (its last line) if it failed."""
        try:
            done = subprocess.run(self.argv(*args), input=stdin, capture_output=True, text=True, timeout=120)
        except OSError as e:
            raise OpsError(f"{what}: cannot run {self.prefix[0]}: {e.strerror or e}") from None
        except subprocess.TimeoutExpired:
            raise OpsError(f"{what}: kubectl did not answer within 120 s") from None
        if done.returncode != 0:
            raise OpsError(f"{what}: {(done.stderr.strip().splitlines() or ['kubectl failed'])[-1]}")
        return done.stdout

    def exec_argv(self, pod: str, *argv: str, env: Mapping[str, str] | None = None) -> list[str]:
        """`kubectl exec -i` of argv in the pod's main container, with env set by env(1)."""
        assignments = [f"{k}={v}" for k, v in sorted((env or {}).items())]
        return self.argv("exec", "-i", pod, "-c", "main", "--", *(["env", *assignments] if env else []), *argv)

    def evict(self, pod: str) -> None:
        """The Eviction API (as `kubectl drain` uses it): the API server refuses it (429) when a
        PodDisruptionBudget allows no more disruption, and says so."""
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": self.namespace}}
        self.run(
            "create",
            "--raw",
            f"/api/v1/namespaces/{self.namespace}/pods/{pod}/eviction",
            "-f",
            "-",
            stdin=json.dumps(body),
            what=f"evicting {pod}",
        )

    def get(self, kind: str, name: str) -> dict:
        return json.loads(self.run("get", kind, name, "-o", "json", what=f"reading {kind} {name}"))

    @contextmanager
    def forwarded(self, url: str) -> Iterator[str]:
        """An in-cluster Service URL (http://NAME.NAMESPACE.svc:PORT/path) as a URL on this machine,
        through `kubectl port-forward svc/NAME` for as long as the context lasts."""
        parts = urllib.parse.urlsplit(url)
        service, port = (parts.hostname or "").split(".")[0], parts.port
        if not service or not port:
            raise OpsError(f"not an in-cluster service URL: {url}")
        try:
            proc = subprocess.Popen(
                self.argv("port-forward", f"svc/{service}", f":{port}"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as e:
            raise OpsError(f"forwarding {service}: cannot run {self.prefix[0]}: {e.strerror or e}") from None
        try:
            assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs
            match = FORWARDING.search(proc.stdout.readline())
            if not match:
                proc.kill()
                why = (proc.stderr.read().strip().splitlines() or ["no message"])[-1]
                raise OpsError(f"forwarding svc/{service}:{port}: {why}")
            # It says "Handling connection for PORT" on each connection: read on, or it would block.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            yield urllib.parse.urlunsplit(parts._replace(netloc=f"127.0.0.1:{match.group(1)}"))
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
