"""haproxy.cfg, checked by the real `haproxy -c`."""

from __future__ import annotations

import subprocess

import pytest

from model.topology import build_topology
from render.haproxy import API_GROUPS, render_haproxy_config
from tests.helpers import require_tool
from tools.mockrun import stack_settings as settings_for


def haproxy_check(tmp_path, text: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    return subprocess.run([require_tool("haproxy"), "-c", "-f", str(cfg)], capture_output=True, text=True)


@pytest.mark.parametrize("stack", ["option-b", "option-c", "dev"])
def test_haproxy_accepts_the_rendered_config(tmp_path, stack):
    result = haproxy_check(tmp_path, render_haproxy_config(build_topology(settings_for(stack))))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration file is valid" in result.stdout + result.stderr


def test_haproxy_rejects_a_broken_config(tmp_path):
    # The check above can fail: a backend with an unknown keyword is refused.
    broken = render_haproxy_config(build_topology(settings_for("dev"))) + "    bogus-keyword on\n"
    assert haproxy_check(tmp_path, broken).returncode != 0


@pytest.mark.parametrize("stack, servers", [("option-b", 16), ("option-c", 20)])
def test_backend_has_one_server_per_api_serving_node_with_a_health_check(stack, servers):
    text = render_haproxy_config(build_topology(settings_for(stack)))
    lines = [line.split() for line in text.splitlines() if line.strip().startswith("server ")]
    assert len(lines) == servers  # the business tier; validators and slim archives take no API traffic
    assert ["server", "business-1a", "business-1:8080"] in lines
    assert {fields[1].split("-")[0] for fields in lines} == set(API_GROUPS)
    assert "option httpchk GET /q/health/ready" in text and "http-check expect status 200" in text


def test_stats_page_and_metrics_are_served():
    text = render_haproxy_config(build_topology(settings_for("dev")))
    assert "bind :8404" in text and "stats enable" in text and "prometheus-exporter" in text
