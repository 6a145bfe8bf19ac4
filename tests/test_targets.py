"""Targets: an existing server over SSH, and a VM created in AWS, Azure or GCP, under mocks."""

from __future__ import annotations

import base64
import subprocess

import pytest
import yaml

from model.clouds import CLOUDS
from model.settings import ConfigError
from render.cloud_init import DATA_DISK_SCRIPT, render_cloud_init
from render.host_key import host_key_pair
from tests.helpers import CONTAINER, REPO, require_tool, service_totals
from tests.test_policy import rules as policy_rules
from tests.test_policy import violations
from tools.fills import FILLS, OPERATOR_CIDR, TEST_SSH_KEY, fills_for
from tools.mockrun import run_program, stack_names

# Every stack file whose target is a cloud, with that cloud.
CLOUD_STACKS = {
    stack: target
    for stack in stack_names()
    if (target := yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"].get("aurigraph-cluster:target"))
    in CLOUDS
}
READY = "command:remote:Command"
MACHINE = {name: cloud.machine_type for name, cloud in CLOUDS.items()}
# The VM's public address: the one TEST-NET-3 address each cloud's mocks give.
ADDRESS = {
    name: next(
        v for outputs in cloud.mock_outputs.values() for v in outputs.values() if str(v).startswith("203.0.113.")
    )
    for name, cloud in CLOUDS.items()
}


def docker_resources(run):
    return [r for r in run.resources if r.custom and r.type.startswith("docker:")]


@pytest.mark.parametrize("stack", ["ssh-option-b", *CLOUD_STACKS])
def test_every_container_is_on_the_targets_ssh_docker_provider(stack_run, stack):
    run = stack_run(stack)
    (provider,) = run.of_type("pulumi:providers:docker")
    assert provider.inputs["host"].startswith("ssh://")
    containers = run.of_type(CONTAINER)
    nodes = {"option-b": 14, "option-c": 18}[stack.split("-", 1)[1]]
    assert len(containers) == nodes + service_totals(stack)[0]
    for reg in docker_resources(run):
        assert reg.provider.startswith(provider.urn + "::"), reg.urn


def test_the_ssh_target_connects_as_configured(stack_run):
    (provider,) = stack_run("ssh-option-b").of_type("pulumi:providers:docker")
    assert provider.inputs["host"] == "ssh://subbu@dlt.aurigraph.io:22"
    assert "StrictHostKeyChecking=yes" in provider.inputs["sshOpts"]
    run = stack_run("ssh-option-b")
    assert run.outputs["host"] == {
        "target": "ssh",
        "address": "dlt.aurigraph.io",
        "dockerHost": "ssh://subbu@dlt.aurigraph.io:22",
    }
    assert run.outputs["endpoints"]["api"] == "http://dlt.aurigraph.io:8080/api/v11"


@pytest.mark.parametrize("stack, cloud", CLOUD_STACKS.items())
def test_the_docker_provider_waits_for_the_vm_to_run_docker(stack_run, stack, cloud):
    run = stack_run(stack)
    (machine,) = run.of_type(MACHINE[cloud])
    (ready,) = run.of_type(READY)
    (provider,) = run.of_type("pulumi:providers:docker")
    assert ready.urn in provider.dependencies
    assert machine.urn in ready.dependencies
    assert "cloud-init status --wait" in ready.inputs["create"] and "docker info" in ready.inputs["create"]
    assert ready.inputs["connection"]["host"] == ADDRESS[cloud]
    assert provider.inputs["host"] == f"ssh://aurigraph@{ADDRESS[cloud]}:22"
    assert run.outputs["endpoints"]["grafana"] == "http://127.0.0.1:3000"  # loopback: reached by SSH tunnel
    assert run.outputs["endpoints"]["api"] == f"http://{ADDRESS[cloud]}:8080/api/v11"


def _firewall_rules(run, cloud):
    """(port, sources) for every inbound allow rule the stack declares."""
    if cloud == "aws":
        (group,) = run.of_type("aws:ec2/securityGroup:SecurityGroup")
        return [(r["fromPort"], r.get("cidrBlocks", []) + r.get("ipv6CidrBlocks", [])) for r in group.inputs["ingress"]]
    if cloud == "gcp":
        return [
            (int(a["ports"][0]), fw.inputs["sourceRanges"])
            for fw in run.of_type("gcp:compute/firewall:Firewall")
            for a in fw.inputs["allows"]
        ]
    (group,) = run.of_type("azure-native:network:NetworkSecurityGroup")
    return [(int(r["destinationPortRange"]), r["sourceAddressPrefixes"]) for r in group.inputs["securityRules"]]


@pytest.mark.parametrize("stack, cloud", CLOUD_STACKS.items())
def test_no_firewall_rule_opens_ssh_or_admin_ports_to_the_world(stack_run, stack, cloud):
    run = stack_run(stack)
    rules = _firewall_rules(run, cloud)
    assert sorted(port for port, _ in rules) == [22, 8080]  # admin UIs stay on loopback
    for port, sources in rules:
        assert sources == [OPERATOR_CIDR], (port, sources)  # apiCidrs defaults to the operators
    for reg in run.resources:
        assert violations(policy_rules.no_world_ssh, reg.type, reg.inputs) == [], reg.urn


def test_admin_ports_open_to_the_operators_when_the_admin_uis_bind_beyond_loopback():
    run = run_program("gcp-option-b", {**FILLS["gcp"], "adminBindAddress": "0.0.0.0", "vm.apiCidrs": ["0.0.0.0/0"]})
    assert run.error is None
    rules = dict(_firewall_rules(run, "gcp"))
    assert rules == {
        22: [OPERATOR_CIDR],
        8080: ["0.0.0.0/0"],
        3000: [OPERATOR_CIDR],
        9090: [OPERATOR_CIDR],
        16686: [OPERATOR_CIDR],
        8404: [OPERATOR_CIDR],
        9093: [OPERATOR_CIDR],
    }


def test_aws_vm_runs_debian_from_its_publisher_with_the_key_a_data_disk_and_imdsv2(stack_run):
    run = stack_run("aws-option-b")
    ((token, args),) = [i for i in run.invokes if i[0] == "aws:ec2/getAmi:getAmi"]
    assert args["owners"] == ["136693071363"] and "debian-12-amd64-*" in args["filters"][0]["values"]
    (vm,) = run.of_type(MACHINE["aws"])
    assert vm.inputs["ami"] == "ami-0debian12mock" and vm.inputs["instanceType"] == "m6i.12xlarge"
    assert vm.inputs["metadataOptions"]["httpTokens"] == "required"
    (disk,) = run.of_type("aws:ebs/volume:Volume")
    assert disk.inputs["size"] == 500 and disk.inputs["encrypted"] is True and disk.protect and disk.retain_on_delete
    (attachment,) = run.of_type("aws:ec2/volumeAttachment:VolumeAttachment")
    assert attachment.delete_before_replace and attachment.inputs["stopInstanceBeforeDetaching"] is True
    assert "ebsBlockDevices" not in vm.inputs  # the data volume is not the instance's: it survives it
    assert vm.delete_before_replace and not vm.protect  # the volume (protected) moves to a replacement
    assert run.named("aws-key", "aws:ec2/keyPair:KeyPair").inputs["publicKey"] == TEST_SSH_KEY
    assert "docker.io" in vm.inputs["userData"]


def test_gcp_vm_finds_debian_by_invoke_and_attaches_a_retained_data_disk(stack_run):
    run = stack_run("gcp-option-b")
    assert ("gcp:compute/getImage:getImage", {"family": "debian-12", "project": "debian-cloud"}) in run.invokes
    (vm,) = run.of_type(MACHINE["gcp"])
    assert vm.inputs["bootDisk"]["initializeParams"]["image"].endswith("debian-12-mock")
    assert vm.inputs["metadata"]["ssh-keys"] == f"aurigraph:{TEST_SSH_KEY}"
    (disk,) = run.of_type("gcp:compute/disk:Disk")
    assert disk.retain_on_delete and disk.protect and disk.inputs["size"] == 500
    assert vm.delete_before_replace  # a read-write disk attaches to one instance at a time
    assert all(r.inputs.get("project") == "aurigraph-test" for r in run.resources if r.type.startswith("gcp:"))


def test_azure_vm_gets_cloud_init_as_custom_data_and_keeps_its_data_disk(stack_run):
    (vm,) = stack_run("azure-option-b").of_type(MACHINE["azure"])
    os_profile = vm.inputs["osProfile"]
    assert os_profile["linuxConfiguration"]["disablePasswordAuthentication"] is True
    assert base64.b64decode(os_profile["customData"]).decode().startswith("#cloud-config")
    (data,) = vm.inputs["storageProfile"]["dataDisks"]
    (disk,) = stack_run("azure-option-b").of_type("azure-native:compute:Disk")
    assert data["deleteOption"] == "Detach" and data["createOption"] == "Attach"
    assert data["managedDisk"]["id"] == "azure-data-id" and disk.inputs["diskSizeGB"] == 500
    assert disk.protect and disk.retain_on_delete and vm.delete_before_replace
    assert vm.inputs["storageProfile"]["imageReference"]["publisher"] == "Debian"


@pytest.mark.parametrize(
    "stack, size, cpus",
    [
        ("azure-option-b", "Standard_D48s_v5", 48),
        ("aws-option-c", "m6i.16xlarge", 64),
        ("aws-option-b", "m6i.12xlarge", 48),
    ],
)
def test_the_vm_size_comes_from_the_capacity_plan_unless_given(stack_run, stack, size, cpus):
    run = stack_run(stack)
    assert run.outputs["host"]["size"] == size
    plan = run.outputs["capacity"]
    assert plan["hostCpus"] == cpus and plan["cpuRatio"] <= 3.0 and plan["memoryRatio"] <= 1.0
    assert plan["containers"] == len(run.of_type(CONTAINER))


def test_the_capacity_plan_is_an_output_on_every_target(stack_run):
    plan = stack_run("option-b").outputs["capacity"]
    # 4 x 12 + 4 x 11 + 6 x 6 = 128 node CPUs, plus the services option-b runs (the S3 uploader
    # runs only with backup.bucket).
    assert plan["containerCpus"] == 128 + service_totals("option-b")[1] and plan["hostCpus"] is None


@pytest.mark.parametrize("stack", [*CLOUD_STACKS, "ssh-option-b"])
def test_a_stack_with_placeholders_left_is_refused_naming_each(stack):
    run = run_program(stack)
    assert isinstance(run.error, ConfigError) and run.resources == []
    for key in fills_for(stack):
        assert f"'{key}': still the placeholder" in str(run.error)
    # The fix it prints works as typed: it names the stack.
    assert f"pulumi config set -s {stack} --path" in str(run.error)


BAD_TARGETS = [
    ("missing allowlist", "aws-option-b", {"vm.sshPublicKey": TEST_SSH_KEY}, "vm.adminCidrs", "still the placeholder"),
    (
        "no allowlist at all",
        "aws-option-b",
        {"vm.sshPublicKey": TEST_SSH_KEY, "vm.adminCidrs": None},
        "vm.adminCidrs",
        "missing",
    ),
    (
        "world allowlist",
        "aws-option-b",
        {**FILLS["aws"], "vm.adminCidrs": ["0.0.0.0/0"]},
        "vm.adminCidrs",
        "never the whole internet",
    ),
    (
        "world allowlist v6",
        "gcp-option-b",
        {**FILLS["gcp"], "vm.adminCidrs": ["::/0"]},
        "vm.adminCidrs",
        "never the whole internet",
    ),
    (
        "malformed cidr",
        "azure-option-b",
        {**FILLS["azure"], "vm.adminCidrs": ["10.0.0.0/33"]},
        "vm.adminCidrs",
        "CIDRs",
    ),
    (
        "instance too small",
        "aws-option-b",
        {**FILLS["aws"], "vm.size": "m6i.2xlarge"},
        "vm.size",
        "Docker refuses a CPU limit above the host's CPUs",
    ),
    (
        "instance too small for the sum",
        "aws-option-b",
        {**FILLS["aws"], "vm.size": "m6i.8xlarge"},
        "vm.size",
        "needs 46.3 CPUs, has 32",
    ),
    (
        "unknown size without its capacity",
        "gcp-option-b",
        {**FILLS["gcp"], "vm.size": "c3-standard-44"},
        "vm.size",
        "with vm.cpus and vm.memoryMb",
    ),
    (
        "key that is not base64",
        "aws-option-b",
        {**FILLS["aws"], "vm.sshPublicKey": "ssh-ed25519 not*base64 me"},
        "vm.sshPublicKey",
        "an OpenSSH public key line",
    ),
    (
        "key whose blob is another type",
        "aws-option-b",
        {**FILLS["aws"], "vm.sshPublicKey": TEST_SSH_KEY.replace("ssh-ed25519", "ssh-rsa", 1)},
        "vm.sshPublicKey",
        "an OpenSSH public key line",
    ),
    (
        "private key pasted",
        "azure-option-b",
        {**FILLS["azure"], "vm.sshPublicKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU"},
        "vm.sshPublicKey",
        "this is a private key",
    ),
    ("bad region", "aws-option-b", {**FILLS["aws"], "vm.region": "Europe West"}, "vm.region", "aws region"),
    (
        "zone outside the region",
        "gcp-option-b",
        {**FILLS["gcp"], "vm.zone": "us-east1-b"},
        "vm.zone",
        "a zone of europe-west1",
    ),
    ("bad project", "gcp-option-b", {**FILLS["gcp"], "vm.project": "My Project"}, "vm.project", "GCP project id"),
    (
        "ssh section on a cloud",
        "aws-option-b",
        {**FILLS["aws"], "ssh": {"host": "x"}},
        "ssh",
        "only used with target: ssh",
    ),
    (
        "malformed ssh host",
        "ssh-option-b",
        {**FILLS["ssh"], "ssh.host": "dlt aurigraph io"},
        "ssh.host",
        "a host name or IP address",
    ),
    ("malformed ssh user", "ssh-option-b", {**FILLS["ssh"], "ssh.user": "Root User"}, "ssh.user", "a user name"),
    ("ssh host too small", "ssh-option-b", {**FILLS["ssh"], "ssh.cpus": 16}, "ssh.cpus", "needs 46.3 CPUs, has 16"),
    (
        "ssh host short of memory",
        "ssh-option-b",
        {**FILLS["ssh"], "ssh.memoryMb": 4096},
        "ssh.memoryMb",
        "needs 9408 MB, has 4096",
    ),
    (
        "ssh options not a list",
        "ssh-option-b",
        {**FILLS["ssh"], "ssh.sshOpts": "-o BatchMode=yes"},
        "ssh.sshOpts",
        "a list of ssh options",
    ),
    ("vm section on the local target", "option-b", {"vm": {"region": "eu-west-1"}}, "vm", "only used with target aws"),
]


@pytest.mark.parametrize(
    "stack, overrides, key, expected", [c[1:] for c in BAD_TARGETS], ids=[c[0] for c in BAD_TARGETS]
)
def test_bad_target_config_fails_naming_the_key(stack, overrides, key, expected):
    run = run_program(stack, overrides)
    assert isinstance(run.error, ConfigError), run.error
    assert f"'{key}'" in str(run.error) and expected in str(run.error), str(run.error)
    assert "\n" not in str(run.error) and run.resources == []
    assert "b3BlbnNzaC1rZXkt" not in str(run.error)  # no part of a private key is ever repeated


HOST_KEY = host_key_pair(base64.b64encode(bytes(32)).decode(), "aurigraph-test")


@pytest.mark.parametrize(
    "device",
    [
        "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123",
        "/dev/disk/azure/scsi1/lun0",
        "/dev/disk/by-id/google-aurigraph-data",
    ],
)
def test_rendered_cloud_init_passes_cloud_init_schema(tmp_path, device):
    tool = require_tool("cloud-init")
    path = tmp_path / "user-data.yaml"
    path.write_text(render_cloud_init("aurigraph", TEST_SSH_KEY, device, HOST_KEY))
    result = subprocess.run([tool, "schema", "--config-file", str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and "Valid cloud-config" in result.stdout, result.stdout + result.stderr


def test_cloud_init_schema_rejects_a_broken_config(tmp_path):
    tool = require_tool("cloud-init")
    path = tmp_path / "user-data.yaml"
    path.write_text("#cloud-config\npackages: docker.io\n")
    assert subprocess.run([tool, "schema", "--config-file", str(path)], capture_output=True).returncode != 0


def test_cloud_init_installs_docker_mounts_the_data_disk_and_adds_the_operator():
    doc = yaml.safe_load(render_cloud_init("aurigraph", TEST_SSH_KEY, "/dev/sdx", HOST_KEY))
    assert "docker.io" in doc["packages"]
    script = next(f["content"] for f in doc["write_files"] if f["path"] == DATA_DISK_SCRIPT)
    assert [DATA_DISK_SCRIPT, "/dev/sdx"] in doc["runcmd"]
    # Formats only a disk with no filesystem, and mounts it at /var/lib/docker before Docker starts.
    assert 'blkid "$device" >/dev/null 2>&1 || mkfs.ext4' in script
    assert script.index("mount /var/lib/docker") < script.index("systemctl enable --now docker")
    assert doc["ssh_keys"] == {"ed25519_private": HOST_KEY[0], "ed25519_public": HOST_KEY[1]}
    (user,) = doc["users"]
    assert user["ssh_authorized_keys"] == [TEST_SSH_KEY] and "docker" in user["groups"] and user["lock_passwd"]
    assert doc["ssh_pwauth"] is False


@pytest.mark.parametrize(
    "stack, cloud", [("aws-option-b", "aws"), ("gcp-option-b", "gcp"), ("azure-option-b", "azure")]
)
def test_no_container_on_the_cluster_network_reaches_the_metadata_service(stack, cloud):
    """GCP's metadata holds this cloud-init (the host's private key), every cloud's the instance's
    credentials: cloud-init installs a unit that drops container traffic to it in DOCKER-USER,
    on every Docker start, and AWS answers IMDSv2 one hop only."""
    from render.cloud_init import METADATA_GUARD, METADATA_GUARD_UNIT

    config = yaml.safe_load(render_cloud_init("aurigraph", TEST_SSH_KEY, "/dev/sdb", HOST_KEY).split("\n", 1)[1])
    unit = next(f for f in config["write_files"] if f["path"].endswith(METADATA_GUARD))
    assert unit["content"] == METADATA_GUARD_UNIT
    assert "-I DOCKER-USER -d 169.254.169.254/32 -j DROP" in unit["content"]
    assert "-I DOCKER-USER -d fd00:ec2::254/128 -j DROP" in unit["content"]
    assert "PartOf=docker.service" in unit["content"] and "WantedBy=docker.service" in unit["content"]
    assert ["systemctl", "enable", "--now", METADATA_GUARD] in config["runcmd"]
    if cloud == "aws":
        run = run_program(stack, {**FILLS[cloud], "backup.bucket": True})
        (vm,) = run.of_type("aws:ec2/instance:Instance")
        assert vm.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
