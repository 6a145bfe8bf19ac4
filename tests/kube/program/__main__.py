"""A namespace that enforces the restricted Pod Security Standard, a StatefulSet and its budget.

Run by tests/test_kube_tier.py through the real CLI and the real Kubernetes provider against
the test control plane (KUBECONFIG). The provider waits until the StatefulSet is ready.
"""

import pulumi
import pulumi_kubernetes as k8s

replicas = pulumi.Config().get_int("replicas") or 3
labels = {"app": "tier"}
namespace = k8s.core.v1.Namespace(
    "tier", metadata={"name": "tier", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}
)
restricted = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
k8s.apps.v1.StatefulSet(
    "nodes",
    metadata={"name": "nodes", "namespace": namespace.metadata["name"]},
    spec={
        "serviceName": "nodes",
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "securityContext": {"runAsUser": 10001},
                "containers": [{"name": "node", "image": "aurigraph/v11-native:11.0.0", "securityContext": restricted}],
            },
        },
    },
)
k8s.policy.v1.PodDisruptionBudget(
    "nodes",
    metadata={"name": "nodes", "namespace": namespace.metadata["name"]},
    spec={"maxUnavailable": 1, "selector": {"matchLabels": labels}},
)
pulumi.export("namespace", namespace.metadata["name"])
