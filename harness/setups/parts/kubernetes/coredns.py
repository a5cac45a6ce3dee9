"""CoreDNS as the cluster DNS, the NixOS module's DNS addon: a Deployment of
2 replicas behind the Service `kube-dns` at the cluster DNS IP, answering
for the cluster domain (with `pods insecure` for pod records), forwarding
nowhere (nothing may leave the lab).

The version line is a setup's choice: seed 000 documents Kubernetes 1.21,
which shipped CoreDNS 1.8, the last line that answers wildcard queries
(`dig *.myapp.default.svc.cluster.local`); 1.9.0 removed them.
"""
from __future__ import annotations


from harness.lab import resolver, templates
from harness.lab.timeline import on_hosts
from harness.lab.wait import wait_until
from harness.setups.parts import declares
from harness.setups.parts.kubernetes import api as k8s_api
from harness.setups.parts.kubernetes.kubelet import IMAGES, import_images
from harness.setups.parts.kubernetes.layout import PART_DIR, cluster_dns_ip


NAMESPACE = "kube-system"
REPLICAS = 2
#: seconds: answers age at most this long, in CoreDNS's cache and in clients.
#: Low, so that a scale change shows in DNS within a second (the DNS suite's
#: bound, as with the stand-in); the NixOS addon's Corefile caches longer.
TTL = 1
LABELS = {"k8s-app": "kube-dns"}
#: topology option `coredns`: the line, by the artifacts' image of its binary
LINES = {"1.8": "coredns-1.8", "current": "coredns-1.12"}


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


@declares(needs=("container_runtime",), provides=("dns_image",))
def image(lab, target, line: str = "1.8") -> None:
    """The image of the CoreDNS line the topology's option `coredns` names
    (else `line`, the setup's own) into every containerd, while the control
    plane comes up (no registry to pull it from)."""
    ref = IMAGES[LINES[lab.topology.options.get("coredns", line)]]
    on_hosts(target.container_runtime, lambda host: import_images(host, [ref]))
    target.provide("dns_image", ref)


@declares(needs=("kubernetes", "kubelets", "pod_network", "service_proxy", "dns_image"),
          provides=("dns_server", "resolve"))
def apply(lab, target) -> None:
    """CoreDNS at the cluster DNS IP, of the image the part before imported;
    the hosts that reach Service IPs use it as their resolver."""
    cluster = target.kubernetes
    image = target.dns_image
    address = cluster_dns_ip(cluster.service_cidr)
    cluster.apply(manifests(image, address, cluster.domain))
    wait_until(lambda: k8s_api.rolled_out(cluster.api, NAMESPACE, "coredns"),
               f"deployment {NAMESPACE}/coredns ({image}) to roll out", timeout=180, interval=0.5)
    for host in target.service_proxy.hosts:
        host.put_file("/etc/resolv.conf", resolver.resolv_conf(address, cluster.domain))
    cluster.versions["coredns"] = image.rsplit(":", 1)[1]
    target.provide("dns_server", address)
    target.provide("resolve", resolver.resolver(["ipv4" if c.version == 4 else "ipv6"
                                                 for c in lab.topology.pod_cidrs]), "dns")
