"""The Kubernetes cluster as the documents build it: `kubeadm init` on the first master with
the plan's configuration (control-plane endpoint = the VIP), the other masters joined with
`--control-plane` and the uploaded certificates, then the workers, all through the VIP."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

from provision.errors import ProviderError
from provision.kubeclient import ADMIN_CONF
from provision.roles.kubernetes import join_config
from provision.roles.master import KUBEADM_CONFIG
from provision.secrets import Secrets
from provision.steps import must
from provision.topology import Host

INIT_ARGS = "/etc/kubernetes/kubeadm-init.args"

#: kubeadm preflight checks that cannot pass on a node that is a container, by name.
PREFLIGHT_IGNORED = {
    # The kernel's configuration and modules are not visible in a container (no
    # /lib/modules, no /proc/config.gz); the machine's kernel is what the nodes share.
    "SystemVerification": "kernel config and modules are the machine's",
}


def kubeadm_timeout_s(plan) -> float:
    """How long a `kubeadm init` or `join` may run: ten minutes, and the plan's own kubeadm
    timeouts on top where it sets them (each can be spent in full)."""
    extra = 0
    for value in plan.kubernetes.kubeadm_timeouts.values():
        for amount, unit in re.findall(r"([0-9]+)([hms])", value):
            extra += int(amount) * {"h": 3600, "m": 60, "s": 1}[unit]
    return 600 + extra


def kubectl(p, *args: str, timeout: float = 30, input: str | None = None):
    """kubectl as the cluster's admin, on the first master."""
    return p.run(p.plan.masters[0].name, ["kubectl", f"--kubeconfig={ADMIN_CONF}", *args], timeout=timeout, input=input)


#: kubectl's words for an API that is slow or away for a moment (an API server under load,
#: the VIP moving), not for a request that is wrong: such a request is sent again.
TRANSIENT = ("TLS handshake timeout", "i/o timeout", "connection refused", "connection reset by peer", ": EOF",
             "context deadline exceeded", "Client.Timeout exceeded", "the server is currently unable to handle the request",
             "etcdserver: request timed out", "http2: client connection lost",
             # its client-side validation's schema, which a slow API server did not serve in time
             # (libvirt smoke run 15, applying flannel right after the control plane came up)
             "failed to download openapi",
             # cluster-admin is a role the API server makes itself when it starts: an API server
             # that does not find it has not filled its authorizer's cache yet, as after a
             # restart (libvirt smoke run 18 was refused flannel so, right after etcd's health)
             'clusterrole.rbac.authorization.k8s.io "cluster-admin" not found')
#: How long a request is sent again while the API is away, before the step stops.
RETRY_S = 120
#: kubectl apply's schema check first downloads the API's OpenAPI document: megabytes that the
#: API server builds and encrypts, which an emulated master did not serve in ten minutes, right
#: after it had answered the nodes' registration and etcd's health (libvirt smoke runs 15 and
#: 17). Once kubectl says so, the apply is sent again without the check, and the step says that
#: it was (a recovery line): the API server still refuses what its own validation refuses.
NO_SCHEMA = "failed to download openapi"


def _unchecked(args: tuple[str, ...]) -> tuple[str, ...]:
    return (*args, "--validate=false") if args[:1] == ("apply",) else args


def kubectl_until(p, what: str, *args: str, timeout: float = 120, input: str | None = None):
    """kubectl until it succeeds while its failures are the API's being away for a moment
    (TRANSIENT); any other failure stops at once, with kubectl's words."""
    last: list[str] = []

    def sent() -> tuple[str, ...]:
        return _unchecked(args) if any(NO_SCHEMA in words for words in last) else args

    def attempt():
        res = kubectl(p, *sent(), timeout=timeout, input=input)
        words = (res.stderr or res.stdout).strip()
        if res.ok or not any(t in words for t in TRANSIENT):
            return res  # done, or a failure that asking again cannot mend
        last.append(words)
        return None

    try:
        res = p.wait_for(f"{what} (the API answering)", attempt, RETRY_S, interval=2)
    except ProviderError as exc:
        # away for the whole bound: where the requests stopped, the master or the VIP's way to
        # it (libvirt smoke run 17: ten minutes of TLS handshake timeouts, nothing else said)
        raise ProviderError(f"{exc}; kubectl said last: {last[-1][-800:] if last else '-'}\n{api_diagnosis(p)}") from None
    if last and res.ok:
        away = next(t for t in TRANSIENT if t in last[-1])
        unchecked = ", without kubectl's schema check" if sent() != args else ""
        p.recovered(f"{what}: sent {len(last) + 1} times, the API away ({away.strip(': ')}){unchecked}")
    return must(res, what)


def _preflight(p) -> list[str]:
    """Only where the nodes are containers: a VM's kernel passes every check."""
    return [f"--ignore-preflight-errors={','.join(PREFLIGHT_IGNORED)}"] if p.hosts_are_containers() else []


def initialised(p) -> bool:
    """`kubeadm init` has run on the first master (its admin kubeconfig is there)."""
    return p.run(p.plan.masters[0].name, ["test", "-f", ADMIN_CONF]).ok


def joined(p, host: Host) -> bool:
    """Registered with the API, and for a master its control plane (etcd) in place."""
    if not kubectl(p, "get", "node", host.name, "-o", "name").ok:
        return False
    return host.role != "master" or p.run(host.name, ["test", "-f", "/etc/kubernetes/manifests/etcd.yaml"]).ok


def init(p) -> None:
    first = p.plan.masters[0].name
    if initialised(p):
        return
    args = ["--config", KUBEADM_CONFIG, "--upload-certs", *_preflight(p)]
    # Kept on the node: what the first master was built with (SEC-07 reads it).
    p.write(first, INIT_ARGS, " ".join(args) + "\n")
    must(p.run(first, ["systemctl", "enable", "kubelet"]), f"{first}: enable kubelet")
    must(p.run(first, ["kubeadm", "init", *args], timeout=kubeadm_timeout_s(p.plan)), f"{first}: kubeadm init",
         lambda: control_plane_diagnosis(p, first))
    p.changed(f"{first}: kubeadm init")


#: What a node's control plane was doing when kubeadm gave up on it: the load, memory and disk,
#: then each static pod's starts and last words from the logs kubelet keeps (etcd's "took too
#: long" lines counted: a slow disk or a starved CPU shows there first).
DIAGNOSIS = r"""
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); memory: $(free -m | awk '/^Mem/ {print $3 " MiB used, " $7 " MiB available"}')"
for f in cpu io memory; do [ -r /proc/pressure/$f ] && echo "pressure $f: $(head -1 /proc/pressure/$f)"; done
df -h / | tail -1
for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
  logs=$(ls /var/log/pods/kube-system_$c-*/$c/*.log 2>/dev/null)
  [ -n "$logs" ] || { echo "$c: never started"; continue; }
  echo "$c: $(echo "$logs" | wc -l) start(s), $(cat $logs | grep -c 'took too long') lines 'took too long'; its last words:"
  tail -n 3 "$(ls -t $logs | head -1)" | cut -c1-240
done
"""


#: The first master's API asked directly and through the VIP, each timed on the node: which of
#: the two ways is slow. The serving certificate names "kubernetes" whichever address is used.
API_PROBE = r"""
for server in https://127.0.0.1:{api_port} https://{vip}:{vip_port}; do
  s=$(date +%s%N)
  out=$(timeout 40 kubectl --kubeconfig={conf} --server=$server --tls-server-name=kubernetes --request-timeout=30s \
        get --raw='/readyz?verbose' 2>&1 | grep -v '^\[+\]' | tail -n 4 | cut -c1-240)
  e=$(date +%s%N)
  echo "readyz via $server: $(( (e - s) / 1000000 )) ms: $out"
done
"""


def api_diagnosis(p) -> str:
    """The API that did not answer, seen from both ends: the first master's readyz directly and
    through the VIP, its control plane (control_plane_diagnosis), and each load balancer's load."""
    plan = p.plan
    first = plan.masters[0].name
    probe = API_PROBE.format(api_port=plan.kubernetes.api_port, vip=plan.vip.address, vip_port=plan.vip.port, conf=ADMIN_CONF)
    res = p.run(first, ["sh", "-c", probe], timeout=120)
    lines = [f"{first}: {(res.stdout or res.stderr).strip()}", control_plane_diagnosis(p, first)]
    for lb in plan.loadbalancers:
        load = p.run(lb.name, ["cat", "/proc/loadavg"], timeout=20)
        lines.append(f"{lb.name} load: {load.stdout.strip() if load.ok else load.stderr.strip()[-200:]}")
    return "\n".join(lines)


def control_plane_diagnosis(p, host: str) -> str:
    """DIAGNOSIS run on the node, so the cause is in the error (a VM is gone by the time anyone reads it)."""
    res = p.run(host, ["sh", "-c", DIAGNOSIS], timeout=120)
    # its head kept: the load and etcd come first
    return f"{host} then: {(res.stdout or res.stderr).strip()[:2500]}"


def ca_hash(p) -> str:
    """sha256 of the cluster CA's public key, as `kubeadm join` pins it."""
    script = ("openssl x509 -pubkey -noout -in /etc/kubernetes/pki/ca.crt"
              " | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1")
    out = must(p.run(p.plan.masters[0].name, ["sh", "-c", script]), "CA hash").stdout.strip()
    return f"sha256:{out}"


def join(p, host: Host, secrets: Secrets, pinned: str) -> None:
    if joined(p, host):
        return
    if p.run(host.name, ["test", "-f", "/etc/kubernetes/kubelet.conf"]).ok:
        # A join that stopped half-way (an interrupted up): kubeadm undoes its own work,
        # an etcd member it added included, before joining again.
        must(p.run(host.name, ["kubeadm", "reset", "--force"], timeout=180), f"{host.name}: kubeadm reset")
    f = join_config(p.plan, host, p.address(host), secrets, pinned)
    p.write(host.name, f.path, f.content, f.mode)
    must(p.run(host.name, ["systemctl", "enable", "kubelet"]), f"{host.name}: enable kubelet")
    must(p.run(host.name, ["kubeadm", "join", "--config", f.path, *_preflight(p)], timeout=kubeadm_timeout_s(p.plan)),
         f"{host.name}: kubeadm join", (lambda: control_plane_diagnosis(p, host.name)) if host.role == "master" else None)
    p.changed(f"{host.name}: kubeadm join")


def apply(p, secrets: Secrets) -> None:
    init(p)
    pinned = ca_hash(p)

    def masters() -> None:
        # One control-plane member at a time: each adds an etcd member.
        for m in p.plan.masters[1:]:
            join(p, m, secrets, pinned)

    # The workers need only the first master behind the VIP: they join while the other
    # masters do (kubeadm's worker join waits and retries through a member being added).
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = [pool.submit(masters), *(pool.submit(join, p, w, secrets, pinned) for w in p.plan.workers)]
        for job in jobs:
            job.result()
    names = {h.name for h in (*p.plan.masters, *p.plan.workers)}

    last: list[str] = []

    def registered() -> bool:
        res = kubectl(p, "get", "nodes", "-o", "json")
        if not res.ok:
            last[:] = [f"kubectl said: {(res.stderr or res.stdout).strip()[-400:]}"]
            return False
        missing = names - {n["metadata"]["name"] for n in json.loads(res.stdout)["items"]}
        last[:] = [f"not registered: {', '.join(sorted(missing))}"]
        return not missing

    try:
        p.wait_for("every node registered with the API", registered, 120, interval=1)
    except ProviderError as exc:
        # which node, or why the API did not say (libvirt smoke run 16 timed out here, unnamed)
        raise ProviderError(f"{exc}; {last[0] if last else 'kubectl never answered'}") from None
