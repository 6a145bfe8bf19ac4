"""VMs and servers the program connects to: pinned host keys, pinned images, data that outlives the VM."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from model.clouds import CLOUDS as CLOUD_SPECS
from render.host_key import host_key_pair, known_hosts_options
from tests.helpers import require_tool
from tools.fills import FILLS, TEST_SSH_KEY
from tools.mockrun import run_program

CLOUDS = {f"{name}-option-b": name for name in CLOUD_SPECS}
MACHINE = {name: cloud.machine_type for name, cloud in CLOUD_SPECS.items()}
IMAGE_INPUT = {name: cloud.image_input for name, cloud in CLOUD_SPECS.items()}
EXPLICIT_IMAGE = {name: cloud.example_image for name, cloud in CLOUD_SPECS.items()}


def ssh_opts(provider) -> list[str]:
    """A provider's sshOpts as the engine passes provider config: JSON-encoded."""
    value = provider.inputs["sshOpts"]
    return json.loads(value) if isinstance(value, str) else value


def cloud_init(run, cloud: str) -> dict:
    (vm,) = run.of_type(MACHINE[cloud])
    spec = CLOUD_SPECS[cloud]
    text = vm.inputs
    for part in spec.user_data_input.split("."):
        text = text[part]
    return yaml.safe_load(base64.b64decode(text).decode() if spec.user_data_base64 else text)


@pytest.mark.parametrize("stack, cloud", CLOUDS.items())
def test_the_vms_host_key_is_generated_and_pinned_everywhere_the_program_connects(stack_run, stack, cloud):
    run = stack_run(stack)
    public = cloud_init(run, cloud)["ssh_keys"]["ed25519_public"]
    (provider,) = run.of_type("pulumi:providers:docker")
    opts = ssh_opts(provider)
    assert opts[: len(known_hosts_options(public))] == known_hosts_options(public)
    assert not any("accept-new" in o or "StrictHostKeyChecking=no" in o for o in opts)
    (ready,) = run.of_type("command:remote:Command")
    assert ready.inputs["connection"]["hostKey"] == public
    (vm,) = run.of_type(MACHINE[cloud])
    assert {"userData", "osProfile", "metadata"} & vm.secret_inputs, "the private host key stays secret in state"


def test_the_generated_host_key_is_a_valid_openssh_key_pair(tmp_path):
    keygen = require_tool("ssh-keygen")
    private, public = host_key_pair(base64.b64encode(os.urandom(32)).decode(), "aurigraph-test")
    path = tmp_path / "host_key"
    path.write_text(private)
    path.chmod(0o600)
    derived = subprocess.run([keygen, "-y", "-f", str(path)], capture_output=True, text=True, check=True).stdout
    assert derived.split()[:2] == public.split()


def test_the_host_key_is_stable_for_a_seed_so_user_data_never_drifts():
    seed = base64.b64encode(bytes(range(32))).decode()
    assert host_key_pair(seed, "c") == host_key_pair(seed, "c")
    assert host_key_pair(seed, "c") != host_key_pair(base64.b64encode(bytes(32)).decode(), "c")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real OpenSSH server on a free loopback port, with an Ed25519 and an RSA host key whose
    comments hold a `%`. Nobody can log in: these tests judge only the host key check."""
    daemon, keygen = require_tool("sshd"), require_tool("ssh-keygen")
    root = tmp_path_factory.mktemp("sshd")
    keys = {}
    for kind, bits in (("ed25519", []), ("rsa", ["-b", "3072"])):
        path = root / f"host_{kind}"
        subprocess.run([keygen, "-q", "-t", kind, *bits, "-N", "", "-C", "ops%h@example", "-f", str(path)], check=True)
        keys[kind] = path.with_suffix(".pub").read_text().strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_ed25519'}\n"
        f"HostKey {root / 'host_rsa'}\nPidFile {root / 'sshd.pid'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # its privilege-separation directory
    proc = subprocess.Popen([daemon, "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield port, keys
    proc.terminate()
    proc.wait(timeout=10)


def _connect(port: int, options: list[str]) -> str:
    done = subprocess.run(
        [
            require_tool("ssh"),
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityFile=/dev/null",
            *options,
            "-p",
            str(port),
            "nobody@127.0.0.1",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stderr


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_the_pinned_host_key_connects_on_another_port_and_a_wrong_one_never_does(sshd, kind):
    """Against a real sshd off port 22: the pinned key passes the host check (the login is then
    refused: nobody may log in), any other key fails it. Its comment's `%` is harmless."""
    port, keys = sshd
    accepted = _connect(port, known_hosts_options(keys[kind]))
    assert "Host key verification failed" not in accepted and "Permission denied" in accepted, accepted
    other = "ed25519" if kind == "rsa" else "rsa"
    wrong = keys[other].split()[0] + " " + keys[other].split()[1]
    options = known_hosts_options(keys[kind])
    options[options.index(next(o for o in options if o.startswith("KnownHostsCommand")))] = (
        f"KnownHostsCommand=/bin/echo %H {wrong}"
    )
    refused = _connect(port, options)
    assert "Host key verification failed" in refused or "no matching host key type" in refused, refused


def test_an_ssh_server_key_from_config_is_the_only_one_accepted():
    run = run_program("ssh-option-b", {**FILLS["ssh"], "ssh.hostKey": TEST_SSH_KEY, "ssh.port": 2222})
    assert run.error is None, run.error
    (provider,) = run.of_type("pulumi:providers:docker")
    assert ssh_opts(provider)[:8] == known_hosts_options(TEST_SSH_KEY)


def test_without_a_host_key_checking_stays_on_whatever_the_options_say(stack_run):
    (provider,) = stack_run("ssh-option-b").of_type("pulumi:providers:docker")
    # ssh keeps the first value of an option: the program's comes first.
    assert ssh_opts(provider)[:2] == ["-o", "StrictHostKeyChecking=yes"]


@pytest.mark.parametrize("stack, cloud", CLOUDS.items())
def test_a_looked_up_image_is_kept_so_a_newer_one_never_replaces_the_vm(stack_run, stack, cloud):
    (vm,) = stack_run(stack).of_type(MACHINE[cloud])
    assert vm.ignore_changes == [IMAGE_INPUT[cloud]]


@pytest.mark.parametrize("stack, cloud", CLOUDS.items())
def test_an_explicit_image_is_used_and_changing_it_is_deliberate(stack, cloud):
    run = run_program(stack, {**FILLS[cloud], "vm.image": EXPLICIT_IMAGE[cloud]})
    assert run.error is None, run.error
    (vm,) = run.of_type(MACHINE[cloud])
    assert vm.ignore_changes == []
    assert EXPLICIT_IMAGE[cloud] in str(vm.inputs)
    assert not [i for i in run.invokes if "get" in i[0].lower()], "no lookup when the image is given"


@pytest.mark.parametrize("stack, cloud", CLOUDS.items())
def test_an_image_of_another_cloud_is_refused(stack, cloud):
    other = EXPLICIT_IMAGE["aws" if cloud == "azure" else "azure"]
    run = run_program(stack, {**FILLS[cloud], "vm.image": other})
    assert run.error is not None and "'vm.image'" in str(run.error) and run.resources == []


@pytest.mark.parametrize(
    "stack, cloud, token", [("gcp-option-b", "gcp", "gcp:compute/firewall:Firewall"), ("azure-option-b", "azure", None)]
)
def test_ipv4_and_ipv6_sources_go_in_separate_rules(stack, cloud, token):
    run = run_program(stack, {**FILLS[cloud], "vm.adminCidrs": ["198.51.100.0/24", "2001:db8::/32"]})
    assert run.error is None, run.error
    if token:
        ranges = [fw.inputs["sourceRanges"] for fw in run.of_type(token)]
    else:
        (nsg,) = run.of_type("azure-native:network:NetworkSecurityGroup")
        ranges = [r["sourceAddressPrefixes"] for r in nsg.inputs["securityRules"]]
        assert len({r["priority"] for r in nsg.inputs["securityRules"]}) == len(ranges)
    assert ["198.51.100.0/24"] in ranges and ["2001:db8::/32"] in ranges
    assert all(len({":" in c for c in r}) == 1 for r in ranges)
