"""A real Kubernetes control plane on loopback, for the Kubernetes tier of the tests.

`ControlPlane` starts etcd, kube-apiserver (TLS from a CA made here, a static admin token, RBAC,
PodSecurity admission on), kube-controller-manager, kube-scheduler and kwok, all built by
tests/kube/build, on free loopback ports, and creates fake nodes spread over zones. It writes a
kubeconfig a stack can use, talks to the API server with `api()`, and stops every process it
started. No container runs: kwok reports pods Running and Ready once scheduled.

kwok also serves the kubelet API the API server calls for exec and port-forward; `kwok_rule`
says where one pod's `kubectl exec` (a command here, with an environment) and `kubectl
port-forward` (an address here) land.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

KUBE = Path(__file__).resolve().parent
BIN = KUBE / "bin"
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
    "pulumi-resource-kubernetes",
    "kwok-stages.yaml",
    "kwok-crds.yaml",
)
ZONE_KEY = "topology.kubernetes.io/zone"
# kwok's own kinds the tests create at run time: a pod's exec and port-forward targets here.
KWOK_CRDS = ("Exec", "PortForward")
FAKE_NODE = "kwok.x-k8s.io/node"


def kube_bin() -> Path:
    """tests/kube/bin; skips locally (fails in CI) when the tier is not built."""
    missing = [b for b in BINARIES if not (BIN / b).exists()]
    if missing:
        message = f"the Kubernetes tier is not built (run tests/kube/build): no {', '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return BIN


class ApiError(Exception):
    def __init__(self, code: int, body: dict[str, Any]):
        super().__init__(f"{code}: {body.get('message', body)}")
        self.code = code
        self.body = body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificate(
    subject: str, key, issuer_key=None, issuer: x509.Certificate | None = None, ca: bool = False
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName("kubernetes"),
                    x509.DNSName("kubernetes.default.svc"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


@dataclass
class Zones:
    """Fake nodes: `per_zone` in each of `names`, each with this much to allocate."""

    names: tuple[str, ...] = ("zone-a", "zone-b", "zone-c")
    per_zone: int = 2
    cpu: str = "64"
    memory: str = "256Gi"
    pods: str = "110"


@dataclass
class ControlPlane:
    root: Path
    zones: Zones = field(default_factory=Zones)
    # Seconds kwok waits before it marks a scheduled pod Ready (a node's start-up time).
    ready_delay: float = 0.0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    # ------------------------------------------------------------ start and stop
    def start(self) -> ControlPlane:
        bin_dir = kube_bin()
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = os.urandom(16).hex()
        self._pki()
        etcd_port, peer_port, self.api_port = free_port(), free_port(), free_port()
        self.server = f"https://127.0.0.1:{self.api_port}"
        self._spawn(
            "etcd",
            [
                str(bin_dir / "etcd"),
                "--name",
                "test",
                "--data-dir",
                str(self.root / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-cluster",
                f"test=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
        )
        pki = self.root / "pki"
        (pki / "tokens.csv").write_text(f"{self.token},admin,admin,system:masters\n")
        self._spawn(
            "kube-apiserver",
            [
                str(bin_dir / "kube-apiserver"),
                "--etcd-servers",
                f"http://127.0.0.1:{etcd_port}",
                "--bind-address",
                "127.0.0.1",
                "--advertise-address",
                "127.0.0.1",
                "--secure-port",
                str(self.api_port),
                "--cert-dir",
                str(pki),
                "--tls-cert-file",
                str(pki / "server.crt"),
                "--tls-private-key-file",
                str(pki / "server.key"),
                "--client-ca-file",
                str(pki / "ca.crt"),
                "--token-auth-file",
                str(pki / "tokens.csv"),
                "--authorization-mode",
                "Node,RBAC",
                "--service-account-issuer",
                "https://kubernetes.default.svc",
                "--service-account-key-file",
                str(pki / "sa.pub"),
                "--service-account-signing-key-file",
                str(pki / "sa.key"),
                "--service-cluster-ip-range",
                "10.96.0.0/16",
                "--endpoint-reconciler-type",
                "none",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                # As kubeadm sets it: exec and port-forward dial a node's InternalIP first (the
                # default tries its Hostname first, and no fake node's name resolves here).
                "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            ],
        )
        self._wait("the API server", lambda: self.api("GET", "/readyz", raw=True) == "ok", 90)
        self.kubeconfig = self.root / "kubeconfig"
        self.kubeconfig.write_text(self.kubeconfig_text())
        common = ["--kubeconfig", str(self.kubeconfig), "--leader-elect=false", "--bind-address", "127.0.0.1"]
        self._spawn(
            "kube-controller-manager",
            [
                str(bin_dir / "kube-controller-manager"),
                *common,
                "--secure-port",
                str(free_port()),
                "--service-account-private-key-file",
                str(pki / "sa.key"),
                "--root-ca-file",
                str(pki / "ca.crt"),
                "--use-service-account-credentials=false",
                "--controllers",
                "*",
            ],
        )
        self._spawn("kube-scheduler", [str(bin_dir / "kube-scheduler"), *common, "--secure-port", str(free_port())])
        # kwok also serves the kubelet API (exec, port-forward) on this port, which every fake node
        # advertises as its kubelet endpoint on 127.0.0.1: the API server's exec and
        # port-forward reach it as they reach a real kubelet.
        self.kubelet_port = free_port()
        self.local_bin.mkdir(exist_ok=True)
        for crd in yaml.safe_load_all((BIN / "kwok-crds.yaml").read_text()):
            if crd:
                self.api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        self._wait("kwok's resource definitions", self._kwok_crds_established, 30)
        self._spawn(
            "kwok",
            [
                str(bin_dir / "kwok"),
                "--kubeconfig",
                str(self.kubeconfig),
                "--config",
                str(self._stages()),
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={FAKE_NODE}=fake",
                "--node-ip",
                "127.0.0.1",
                "--node-port",
                str(self.kubelet_port),
                "--cidr",
                "10.244.0.0/16",
                "--server-address",
                f"127.0.0.1:{self.kubelet_port}",
                "--enable-crds",
                ",".join(KWOK_CRDS),
                # A kubelet's heartbeat: it renews its node's Lease every quarter of 40 s
                # (KubeletConfiguration nodeLeaseDurationSeconds) and the node lifecycle
                # controller reads the Lease. Without it kwok's status heartbeat, 20-25 s apart,
                # is all the controller sees against its 50 s grace period, and a busy machine
                # missed it: the node turned Unknown and its pods NotReady mid-rollout.
                "--node-lease-duration-seconds",
                "40",
            ],
            # kwok finds an exec's command on its own PATH (Go's exec.LookPath), not the Exec's envs:
            # tests put the commands their pods "have" in local_bin.
            env={**os.environ, "PATH": f"{self.local_bin}:{os.environ['PATH']}"},
        )
        for zone in self.zones.names:
            for i in range(1, self.zones.per_zone + 1):
                self.add_node(f"{zone}-node-{i}", zone)
        self._wait("the fake nodes", lambda: len(self.ready_nodes()) == len(self.zones.names) * self.zones.per_zone, 60)
        self._wait(
            "the default service account",
            lambda: self._exists("/api/v1/namespaces/default/serviceaccounts/default"),
            60,
        )
        return self

    @property
    def local_bin(self) -> Path:
        return self.root / "local-bin"

    def _kwok_crds_established(self) -> bool:
        crds = self.api("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]
        return sum(
            any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (crd.get("status") or {}).get("conditions") or []
            )
            for crd in crds
            if crd["spec"]["group"] == "kwok.x-k8s.io"
        ) == len(KWOK_CRDS)

    def kwok_rule(self, kind: str, namespace: str, pod: str, spec: dict) -> None:
        """An Exec or PortForward for one pod: what `kubectl exec` and `kubectl port-forward` to it
        reach on this machine (a local command with these envs, a local address). Replaced if
        there is one."""
        path = f"/apis/kwok.x-k8s.io/v1alpha1/namespaces/{namespace}/{kind.lower()}s"
        if self._exists(f"{path}/{pod}"):
            self.api("DELETE", f"{path}/{pod}")
        self.api(
            "POST",
            path,
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": kind,
                "metadata": {"name": pod, "namespace": namespace},
                "spec": spec,
            },
        )

    def stop(self) -> None:
        for _name, proc in reversed(list(self.processes.items())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        # The state is thrown away: a process that has not exited a few seconds after SIGTERM is
        # killed (one that lingered used to cost every module 20 s).
        deadline = time.time() + 3
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for proc in self.processes.values():
            proc.stdout and proc.stdout.close()

    def __enter__(self) -> ControlPlane:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values()]

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.root / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )
        log.close()

    def _wait(self, what: str, ready, seconds: float) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            dead = [n for n, p in self.processes.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(
                    f"{dead[0]} exited while waiting for {what}: {(self.root / f'{dead[0]}.log').read_text()[-2000:]}"
                )
            try:
                if ready():
                    return
            except (OSError, ApiError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{what} not ready after {seconds:g}s")

    # ------------------------------------------------------------ PKI and kubeconfig
    def _pki(self) -> None:
        pki = self.root / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("aurigraph-test-ca", ca_key, ca=True)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server = _certificate("kube-apiserver", server_key, ca_key, ca)
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (pki / "ca.crt").write_bytes(_pem_cert(ca))
        (pki / "server.crt").write_bytes(_pem_cert(server))
        (pki / "server.key").write_bytes(_pem_key(server_key))
        (pki / "sa.key").write_bytes(_pem_key(sa_key))
        (pki / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        self.ca_pem = _pem_cert(ca)

    def kubeconfig_text(self) -> str:
        import base64

        return yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [
                    {
                        "name": "test",
                        "cluster": {
                            "server": self.server,
                            "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                        },
                    }
                ],
                "users": [{"name": "admin", "user": {"token": self.token}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
            }
        )

    def _stages(self) -> Path:
        """kwok's stages, with the pod-ready stage delayed by `ready_delay` seconds."""
        docs = [d for d in yaml.safe_load_all((BIN / "kwok-stages.yaml").read_text()) if d]
        for doc in docs:
            if doc["metadata"]["name"] == "pod-ready" and self.ready_delay:
                doc["spec"]["delay"] = {"durationMilliseconds": int(self.ready_delay * 1000)}
        path = self.root / "kwok-config.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        return path

    # ------------------------------------------------------------ the API
    def api(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        *,
        raw: bool = False,
        content_type: str = "application/json",
    ) -> Any:
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.server + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": content_type,
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            try:
                detail = json.loads(text)
            except ValueError:
                detail = {"message": text}
            raise ApiError(error.code, detail) from None
        return text if raw else json.loads(text)

    def _exists(self, path: str) -> bool:
        try:
            self.api("GET", path)
            return True
        except ApiError as error:
            if error.code == 404:
                return False
            raise

    def add_node(self, name: str, zone: str) -> None:
        z = self.zones
        self.api(
            "POST",
            "/api/v1/nodes",
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {FAKE_NODE: "fake"},
                    "labels": {ZONE_KEY: zone, "kubernetes.io/hostname": name, "type": "kwok"},
                },
                "status": {
                    "allocatable": {"cpu": z.cpu, "memory": z.memory, "pods": z.pods},
                    "capacity": {"cpu": z.cpu, "memory": z.memory, "pods": z.pods},
                    # The addresses a kubelet reports. kwok's node-initialize stage adds only
                    # those missing, and when a node it re-initializes (Ready again after a
                    # loss) lacks a Hostname it renders `addresses:` empty, wiping the
                    # InternalIP that exec and port-forward dial.
                    "addresses": [
                        {"type": "InternalIP", "address": "127.0.0.1"},
                        {"type": "Hostname", "address": name},
                    ],
                },
            },
        )

    def add_volumes(self, count: int, storage_class: str, size: str = "100Gi") -> None:
        """Pre-made PersistentVolumes of `storage_class` for claims to bind to: nothing here
        provisions volumes. hostPath and no node affinity: the claim binds wherever the pod goes
        (kwok runs no container, so nothing is written)."""
        for i in range(count):
            self.api(
                "POST",
                "/api/v1/persistentvolumes",
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": f"{storage_class}-{i}"},
                    "spec": {
                        "capacity": {"storage": size},
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": storage_class,
                        "persistentVolumeReclaimPolicy": "Retain",
                        "hostPath": {"path": f"/var/lib/fake-volumes/{i}"},
                    },
                },
            )

    def ready_nodes(self) -> list[str]:
        nodes = self.api("GET", "/api/v1/nodes")["items"]
        return [
            n["metadata"]["name"]
            for n in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
        ]

    def pods(self, namespace: str, selector: str = "") -> list[dict]:
        query = f"?labelSelector={urllib.parse.quote(selector)}" if selector else ""
        return self.api("GET", f"/api/v1/namespaces/{namespace}/pods{query}")["items"]

    def watch(self, path: str, resource_version: str, seconds: int = 1):
        """One watch of the collection at `path` from `resource_version`, which the API server ends
        after `seconds`: its events in order (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR). A
        watcher that reconnects from the last resourceVersion it saw misses no event, however
        slowly it reads."""
        query = urllib.parse.urlencode(
            {
                "watch": "1",
                "resourceVersion": resource_version,
                "timeoutSeconds": seconds,
                "allowWatchBookmarks": "true",
            }
        )
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        request = urllib.request.Request(
            f"{self.server}{path}{'&' if '?' in path else '?'}{query}",
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, context=context, timeout=seconds + 30) as response:
            for line in response:
                if line.strip():
                    yield json.loads(line)

    def cordon(self, node: str, unschedulable: bool = True) -> None:
        """As `kubectl cordon` (and `uncordon`, with False): no new pod is scheduled there."""
        self.api(
            "PATCH",
            f"/api/v1/nodes/{node}",
            {"spec": {"unschedulable": unschedulable}},
            content_type="application/merge-patch+json",
        )

    def lose_node(self, node: str) -> None:
        """The machine behind a fake node dies: kwok (its kubelet) lets go of it, so its pods never
        finish terminating, and its Ready condition turns Unknown, as the node lifecycle controller
        writes it once the node has missed its grace period (not waited for here)."""
        self.api(
            "PATCH",
            f"/api/v1/nodes/{node}",
            {"metadata": {"annotations": {FAKE_NODE: None}}},
            content_type="application/merge-patch+json",
        )
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ready = {
            "type": "Ready",
            "status": "Unknown",
            "reason": "NodeStatusUnknown",
            "message": "Kubelet stopped posting node status.",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        self.api(
            "PATCH",
            f"/api/v1/nodes/{node}/status",
            {"status": {"conditions": [ready]}},
            content_type="application/strategic-merge-patch+json",
        )

    def revive_node(self, node: str) -> None:
        """The machine is back: kwok manages the node again and reports it Ready; no taints."""
        self.api(
            "PATCH",
            f"/api/v1/nodes/{node}",
            {"metadata": {"annotations": {FAKE_NODE: "fake"}}, "spec": {"taints": None}},
            content_type="application/merge-patch+json",
        )
        self._wait(f"{node} to be Ready again", lambda: node in self.ready_nodes(), 60)

    def evict(self, namespace: str, pod: str) -> None:
        """The Eviction API, as `kubectl drain` calls it; ApiError 429 when a budget refuses."""
        self.api(
            "POST",
            f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction",
            {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}},
        )


def is_ready(pod: dict) -> bool:
    return pod.get("metadata", {}).get("deletionTimestamp") is None and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", [])
    )


def alive(pid: int) -> bool:
    """Whether a process still runs (a zombie that was reaped does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())
