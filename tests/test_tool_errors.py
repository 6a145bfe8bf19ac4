"""An operator's mistake gets one line and a documented exit code from every tool, never a traceback.

Exit codes: 0 healthy or passed, 1 failed (or, for plan, an invalid stack config), 2 degraded
(smoke), 64 could not run (bad arguments or unusable input).
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading

import pytest

from tests.helpers import REPO
from tools.ops import EXIT_USAGE


class _HtmlHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b"<html><body>Welcome to nginx</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _JsonListHandler(_HtmlHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"[1, 2]")


def test_prometheus_answering_json_that_is_not_an_object_is_an_ops_error():
    from tools.ops import OpsError, Prometheus

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _JsonListHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(OpsError, match=r"failed \(200\): \[1, 2\]"):
            Prometheus(f"http://127.0.0.1:{server.server_address[1]}").query("up")
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def html_endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def files(tmp_path_factory, html_endpoint):
    d = tmp_path_factory.mktemp("tool-inputs")
    (d / "malformed.json").write_text("{not json")
    (d / "empty.json").write_text("{}")
    (d / "list.json").write_text("[1, 2]")
    endpoints = {k: html_endpoint for k in ("api", "prometheus", "grafana", "jaeger", "haproxyStats")}
    (d / "html.json").write_text(
        json.dumps(
            {
                "nodes": {
                    "validator-1a": {"group": "validator", "container": "validator-1", "dockerName": "x-validator-1"}
                },
                "endpoints": endpoints,
                "faultBudget": 0,
                "density": "option-b",
            }
        )
    )
    return d


# (id, tool arguments with {d} for the inputs folder, exit code, a fragment of the one line)
CASES = [
    ("smoke-usage", ["smoke"], EXIT_USAGE, "one of the arguments --stack --outputs is required"),
    ("smoke-missing-outputs", ["smoke", "--outputs", "{d}/nope.json"], EXIT_USAGE, "cannot read"),
    ("smoke-malformed-outputs", ["smoke", "--outputs", "{d}/malformed.json"], EXIT_USAGE, "is not JSON"),
    ("smoke-never-deployed", ["smoke", "--outputs", "{d}/empty.json"], EXIT_USAGE, "was the stack deployed"),
    ("smoke-not-an-object", ["smoke", "--outputs", "{d}/list.json"], EXIT_USAGE, "not a JSON object"),
    (
        "drill-never-deployed",
        ["drill", "failover", "--outputs", "{d}/empty.json"],
        EXIT_USAGE,
        "was the stack deployed",
    ),
    (
        "drill-nan-timeout",
        ["drill", "failover", "--outputs", "{d}/html.json", "--timeout", "nan"],
        EXIT_USAGE,
        "finite number of seconds",
    ),
    (
        "drill-infinite-timeout",
        ["drill", "failover", "--outputs", "{d}/html.json", "--timeout", "inf"],
        EXIT_USAGE,
        "finite number of seconds",
    ),
    (
        "drill-negative-timeout",
        ["drill", "failover", "--outputs", "{d}/html.json", "--timeout", "-5"],
        EXIT_USAGE,
        "finite number of seconds",
    ),
    (
        "drill-word-timeout",
        ["drill", "failover", "--outputs", "{d}/html.json", "--timeout", "soon"],
        EXIT_USAGE,
        "expected seconds",
    ),
    ("plan-config-error", ["plan", "aws-option-b"], 1, "'vm.sshPublicKey': still the placeholder"),
    ("plan-malformed-diff", ["plan", "dev", "--diff", "{d}/malformed.json"], EXIT_USAGE, "not a readable snapshot"),
    ("plan-not-a-snapshot", ["plan", "dev", "--diff", "{d}/empty.json"], EXIT_USAGE, "not a snapshot"),
    ("plan-unwritable-out", ["plan", "dev", "--out", "{d}/no-such-dir/snap.json"], EXIT_USAGE, "cannot write"),
    ("plan-bad-set-path", ["plan", "dev", "--set", "groups..validator=1"], EXIT_USAGE, "cannot read"),
    ("plan-set-without-value", ["plan", "dev", "--set", "groups.validator.image"], EXIT_USAGE, "PATH=VALUE"),
    ("plan-unknown-stack", ["plan", "nope"], EXIT_USAGE, "no stack 'nope'"),
]


@pytest.mark.parametrize("argv,code,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_operator_mistakes_get_one_line_and_a_documented_code(files, argv, code, fragment):
    tool, *rest = argv
    proc = subprocess.run(
        [sys.executable, "-m", f"tools.{tool}", *(a.format(d=files) for a in rest)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], proc.stderr


def test_an_endpoint_answering_html_is_a_failed_check_not_a_crash(files):
    proc = subprocess.run(
        [sys.executable, "-m", "tools.smoke", "--outputs", str(files / "html.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "is it Prometheus?" in proc.stdout and "HAProxy's stats CSV" in proc.stdout
    assert proc.stdout.rstrip().endswith("result: FAILED")


def test_usage_errors_and_degraded_have_different_codes():
    from tools.ops import Check, overall

    assert overall([Check("x", "warn", "")])[1] == 2 != EXIT_USAGE


def test_a_reader_that_closes_the_pipe_ends_the_tool_quietly():
    """`python -m tools.plan ... --json | head`: exit as SIGPIPE would, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.plan", "option-c", "--json", "--diff", "option-b"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the tool writes a byte: every write fails
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and "Traceback" not in err and err == ""


@pytest.mark.parametrize("tool", ["plan", "smoke", "drill", "configdoc"])
def test_help_shows_no_empty_defaults(tool):
    done = subprocess.run([sys.executable, "-m", f"tools.{tool}", "--help"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and "(default: None)" not in done.stdout and "(default: False)" not in done.stdout


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["failover", "--yes"], "forwarding prometheus: cannot run /nonexistent/kubectl"),
        (["restore", "--list"], "reading cronjob postgres-backup: cannot run /nonexistent/kubectl"),
    ],
    ids=["failover", "restore"],
)
def test_a_drill_on_a_kubernetes_stack_without_kubectl_fails_in_one_line(tmp_path, argv, fragment):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "nodes": {},
                "endpoints": {
                    "prometheus": "http://prometheus.aurigraph.svc:9090",
                    "api": "http://api.aurigraph.svc:8080",
                },
                "faultBudget": 1,
                "kubernetes": {"namespace": "aurigraph"},
                "backup": {"cronJob": "postgres-backup", "databasePod": "postgres-c40656fb-0"},
            }
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tools.drill", *argv, "--outputs", str(outputs)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KUBECTL": "/nonexistent/kubectl"},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert fragment in proc.stdout + proc.stderr
