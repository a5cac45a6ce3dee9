"""CoreDNS as the cluster DNS, the NixOS module's DNS addon: a Deployment of
2 replicas behind the Service `kube-dns` at the cluster DNS IP, answering
for the cluster domain (with `pods insecure` for pod records), forwarding
nowhere (nothing may leave the lab).

The version line is a setup's choice: seed 000 documents Kubernetes 1.21,
which shipped CoreDNS 1.8, the last line that answers wildcard queries
(`dig *.myapp.default.svc.cluster.local`); 1.9.0 removed them.
"""
from __future__ import annotations

from harness.lab import templates
from harness.setups.parts.kubernetes.layout import PART_DIR


NAMESPACE = "kube-system"
REPLICAS = 2
#: seconds: answers age at most this long, in CoreDNS's cache and in clients.
#: Low, so that a scale change shows in DNS within a second (the DNS suite's
#: bound, as with the stand-in); the NixOS addon's Corefile caches longer.
TTL = 1
LABELS = {"k8s-app": "kube-dns"}


def manifests(image: str, cluster_ip: str, domain: str) -> list[dict]:
    meta = {"namespace": NAMESPACE}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", **meta}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "system:coredns"},
         "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"]},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                    "verbs": ["list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "system:coredns"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "system:coredns"},
         "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": NAMESPACE}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", **meta},
         "data": {"Corefile": templates.render(PART_DIR, "Corefile.j2", domain=domain, ttl=TTL)}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "coredns", "labels": LABELS, **meta},
         "spec": {"replicas": REPLICAS, "selector": {"matchLabels": LABELS},
                  "template": {"metadata": {"labels": LABELS}, "spec": {
                      "serviceAccountName": "coredns", "dnsPolicy": "Default",
                      "containers": [{
                          "name": "coredns", "image": image, "imagePullPolicy": "Never",
                          "args": ["-conf", "/etc/coredns/Corefile"],
                          "ports": [{"containerPort": 53, "protocol": p, "name": f"dns-{p.lower()}"}
                                    for p in ("UDP", "TCP")],
                          "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}],
                          "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181},
                                             "periodSeconds": 2},
                      }],
                      "volumes": [{"name": "config", "configMap": {"name": "coredns"}}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "kube-dns", "labels": LABELS, **meta},
         "spec": {"selector": LABELS, "clusterIP": cluster_ip,
                  "ports": [{"name": f"dns-{p.lower()}", "port": 53, "protocol": p}
                            for p in ("UDP", "TCP")]}},
    ]
