"""The frontend's HAProxy config, generated from seed 001's option reference:
bad options are one clear error, every generated config passes `haproxy -c`."""
import subprocess

import pytest

from harness.setups.parts.frontend.config import FrontendConfigError, FrontendOptions, render_config

BASE = {"binds": ["127.0.0.1:8000"], "podPort": 8888}


@pytest.mark.parametrize("options, message", [
    ({"binds": ["127.0.0.1:8000"]}, "use exactly one of podPort, lbServicePort, servicePort "
                                    "(they are mutually exclusive); got none"),
    ({**BASE, "servicePort": 8443}, "got podPort, servicePort"),
    ({**BASE, "lbServicePort": 80, "servicePort": 8443}, "got podPort, lbServicePort, servicePort"),
    ({**BASE, "podPort": 70000}, "podPort must be a port number, got 70000"),
    ({**BASE, "mode": "udp"}, "mode must be http or tcp, got 'udp'"),
    ({**BASE, "maxExpectedPods": 0}, "maxExpectedPods must be a positive integer"),
    ({**BASE, "binds": "127.0.0.1:8000"}, "binds must be a non-empty list"),
    ({**BASE, "podport": 1}, "unknown option(s) podport"),
])
def test_bad_options_are_one_clear_error(options, message):
    with pytest.raises(FrontendConfigError) as info:
        FrontendOptions.parse("myapp", options)
    assert str(info.value).startswith("frontend 'myapp': ") and message in str(info.value)


def test_defaults_follow_seed_001():
    opts = FrontendOptions.parse("myapp", BASE)
    assert (opts.mode, opts.serviceName, opts.namespace, opts.maxExpectedPods, opts.sslBackend) == \
        ("http", "myapp", "default", 10, False)
    assert opts.server_lines() == [
        "server-template pod 10 *.myapp.default.svc.cluster.local:8888 "
        "check resolvers cluster init-addr none"]


VARIANTS = {
    "scenario 1 (seed 001)": {"binds": ["127.0.0.1:8000"], "podPort": 8888},
    "seed 000 example": {"binds": ["198.51.100.2:443", "[2001:db8:100::1000]:443"], "mode": "tcp",
                         "serviceName": "ingress", "podPort": 443, "maxExpectedPods": 20},
    "scenario 2 (seed 001)": {"binds": ["192.0.2.11:443"], "mode": "tcp", "lbServicePort": 443,
                              "serviceName": "traefik", "namespace": "kube-system",
                              "lbAddresses": ["192.168.31.3", "fd00:31::4"]},
    "servicePort, all extras": {"binds": ["127.0.0.1:8001"], "servicePort": 8443, "sslBackend": True,
                                "haproxyExtraConfig": "maxconn 5", "maxExpectedPods": 5},
    "extraPodTemplateOptions": {"binds": ["127.0.0.1:8002"], "podPort": 8080,
                                "extraPodTemplateOptions": "weight 10"},
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_generated_config_passes_haproxy_c(name, tmp_path):
    opts = FrontendOptions.parse("app", VARIANTS[name])
    config = render_config([opts], nameserver="192.168.21.10")
    assert "balance leastconn" in config and "resolvers cluster" in config
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    check = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, f"{name}: haproxy -c refused:\n{check.stderr}\n{config}"


def test_haproxy_c_catches_a_broken_extra_option(tmp_path):
    """The check is real: an option HAProxy does not know fails it."""
    opts = FrontendOptions.parse("app", {**BASE, "haproxyExtraConfig": "no-such-keyword 1"})
    path = tmp_path / "haproxy.cfg"
    path.write_text(render_config([opts], nameserver="192.168.21.10"))
    assert subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True).returncode != 0


def test_a_request_that_no_pod_answers_is_an_error_with_the_status(small_lab):
    """With no pod behind it HAProxy answers 503 with a page of its own: a
    request returns a pod's answer or raises, naming the status, never
    hands an error page (or an empty body) to a suite as an answer."""
    from harness.setups.parts.frontend.haproxy import HAProxyFrontend, HttpError
    master = small_lab.host("master")
    frontend = HAProxyFrontend(master, nameserver="127.0.0.1")  # no DNS: no pod is found
    frontend.configure("nobody", binds=["127.0.0.1:8100"], podPort=8080)
    with pytest.raises(HttpError, match=r"GET http://127.0.0.1:8100/ from master: HTTP 503"):
        frontend.request("127.0.0.1:8100")
