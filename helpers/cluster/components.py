"""Command lines and configuration files of the local cluster's components.

Pure functions of the layout and ports (unit-tested without starting anything). The
flags follow Kubernetes' own ``hack/local-up-cluster.sh``, trimmed to what the course
needs. Every listener is on 127.0.0.1, except the two that Pods must reach: the API
server and CoreDNS, on the node's address on its own bridge (``config.NODE_IP``).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from . import auditpolicy, authnconfig, config
from .config import Layout, Ports
from .pki import CLIENTS


def etcd_args(bin_dir: Path, layout: Layout, ports: Ports) -> list[str]:
    """etcd: plain HTTP on loopback, no fsync (a throwaway teaching cluster)."""
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        str(bin_dir / "etcd"),
        "--name=course",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=course={peer}",
        "--log-level=warn",
        "--unsafe-no-fsync",
    ]


def api_server_url(ports: Ports) -> str:
    """Where every client, on the host or in a Pod (through the Service), finds the API."""
    return f"https://{config.NODE_IP}:{ports.apiserver}"


def audit_policy_file(layout: Layout) -> Path:
    """Where the local cluster keeps its audit policy (written by ``up``)."""
    return layout.config / "audit-policy.yaml"


def audit_log_file(layout: Layout) -> Path:
    """Where the local cluster's kube-apiserver writes its audit log."""
    return layout.logs / "audit.log"


#: What ``--service-account-max-token-expiration`` gives both course clusters (notebook 09).
MAX_TOKEN_EXPIRATION = "48h"


def authentication_config_file(layout: Layout) -> Path:
    """Where the local cluster keeps its AuthenticationConfiguration (written by ``up``)."""
    return layout.config / authnconfig.FILE_NAME


def apiserver_args(bin_dir: Path, layout: Layout, ports: Ports) -> list[str]:
    """kube-apiserver, with the ServiceAccount flags the course teaches.

    It listens on the node's bridge address and advertises it as the endpoint of the
    ``kubernetes`` Service, which may not be a loopback address. With a LAN address
    (:func:`config.lan_address`, a workshop on one machine) it listens on every address.
    """
    pki = layout.pki
    return [
        str(bin_dir / "kube-apiserver"),
        f"--bind-address={'0.0.0.0' if config.lan_address() else config.NODE_IP}",
        f"--advertise-address={config.NODE_IP}",
        f"--secure-port={ports.apiserver}",
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        # -- ServiceAccount tokens: who issues them, which key signs, which keys verify --
        f"--service-account-issuer={config.SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        # …and the key of before the last rotation: verified with, never signed with
        f"--service-account-key-file={pki / 'sa-previous.pub'}",
        f"--service-account-jwks-uri={api_server_url(ports)}/openid/v1/jwks",
        # …and the longest token a TokenRequest gets (a classroom's outlive it by 2 days at
        # most); the kubelet's one-year extension is not affected (notebook 09)
        f"--service-account-max-token-expiration={MAX_TOKEN_EXPIRATION}",
        # -- who is anonymous, and where (authnconfig: health and discovery only) --
        f"--authentication-config={authentication_config_file(layout)}",
        # -- who may do what --
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        # -- the audit log, in the state directory (auditpolicy.POLICY: Metadata, no bodies) --
        *auditpolicy.apiserver_flags(str(audit_policy_file(layout)), str(audit_log_file(layout))),
        # -- talking to the kubelet (exec, logs), verifying its serving certificate --
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=Hostname",
        f"--service-cluster-ip-range={config.SERVICE_SUBNET}",
        "--profiling=false",
        "--v=1",
    ]


def controller_manager_args(bin_dir: Path, layout: Layout, ports: Ports) -> list[str]:
    """kube-controller-manager: the tokens controller signs legacy tokens with sa.key."""
    kubeconfig = layout.config / "controller-manager.kubeconfig"
    pki = layout.pki
    return [
        str(bin_dir / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.controller_manager}",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        "--use-service-account-credentials=true",
        "--controllers=*",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        f"--service-cluster-ip-range={config.SERVICE_SUBNET}",
        "--leader-elect=false",
        # One client per controller (--use-service-account-credentials): the default client
        # rate limit (20/s) makes building ~40 controllers take seconds on a fresh cluster.
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_config(layout: Layout) -> str:
    """KubeSchedulerConfiguration: our kubeconfig, no leader election."""
    doc = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(layout.config / "scheduler.kubeconfig")},
        "leaderElection": {"leaderElect": False},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def scheduler_args(bin_dir: Path, layout: Layout, ports: Ports) -> list[str]:
    """kube-scheduler."""
    kubeconfig = layout.config / "scheduler.kubeconfig"
    return [
        str(bin_dir / "kube-scheduler"),
        f"--config={layout.config / 'scheduler.yaml'}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.scheduler}",
        "--profiling=false",
        "--v=1",
    ]


def containerd_config(layout: Layout, runc: str, cni_bin_dirs: list[str]) -> str:
    """containerd 2.x config (version 3): our own root, state and socket; cgroupfs; CRI."""
    cri_runtime = "plugins.'io.containerd.cri.v1.runtime'"
    return f"""\
version = 3
root = "{layout.containerd_root}"
state = "{layout.containerd_state}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
  "io.containerd.grpc.v1.tracing",
]

[grpc]
  address = "{layout.containerd_socket}"

[plugins.'io.containerd.internal.v1.opt']
  path = "{layout.containerd_root / "opt"}"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{config.PAUSE_IMAGE}"

[{cri_runtime}]
  tolerate_missing_hugetlb_controller = true
  disable_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  # Never ask for an oom_score_adj below containerd's own: lowering it needs
  # CAP_SYS_RESOURCE, which sandboxed hosts (and rootless setups) do not grant.
  restrict_oom_score_adj = true
  [{cri_runtime}.containerd]
    default_runtime_name = "runc"
    [{cri_runtime}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri_runtime}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{runc}"
        Root = "{layout.containerd_state / "runc"}"
  [{cri_runtime}.cni]
    bin_dirs = {json.dumps(cni_bin_dirs)}
    conf_dir = "{layout.cni_conf}"
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""


def cni_conflist(layout: Layout) -> str:
    """One bridge network for Pods, with one route: Service IPs, via the node's address.

    No default route and no masquerading, so Pods reach the node and nothing beyond it.
    The bridge and its address are ours (``host.ensure_bridge``): ``isGateway`` would make
    the plugin switch on the host's IP forwarding, which nothing here needs, because a
    Service IP is DNATed to the node's own address and never forwarded.
    """
    doc = {
        "cniVersion": "1.0.0",
        "name": "sa-course",
        "plugins": [
            {
                "type": "bridge",
                "bridge": config.BRIDGE_NAME,
                "isGateway": False,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": config.POD_SUBNET, "gateway": config.NODE_IP}]],
                    "routes": [{"dst": config.SERVICE_SUBNET, "gw": config.NODE_IP}],
                    "dataDir": str(layout.cni_ipam),
                },
            }
        ],
    }
    return json.dumps(doc, indent=2)


def kubelet_config(layout: Layout, ports: Ports) -> str:
    """KubeletConfiguration for a root, systemd-less, possibly cgroup-v1 host."""
    pki = layout.pki
    doc = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports.kubelet_healthz,
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": config.CGROUP_ROOT,
        "cgroupsPerQOS": True,
        # This host may use cgroup v1, which kubelets >= 1.35 refuse unless told otherwise.
        "failCgroupV1": False,
        "failSwapOn": False,
        "podLogsDir": str(layout.state / "pod-logs"),
        "resolvConf": "/etc/resolv.conf",
        # The kube-dns Service, backed by CoreDNS on the node (see dns_service).
        "clusterDomain": config.CLUSTER_DOMAIN,
        "clusterDNS": [config.CLUSTER_DNS],
        "rotateCertificates": False,
        "serializeImagePulls": False,
        "maxPods": 250,  # the Pod subnet is a /24; a classroom of 30 needs about 210
        # The images are imported by hand: never garbage-collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # A teaching node on a laptop: do not evict pods because the disk is 90 % full.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        # Leave the host's firewall alone: no KUBE-* iptables chains (kube-proxy keeps its
        # rules in its own nftables table).
        "makeIPTablesUtilChains": False,
        "nodeStatusUpdateFrequency": "2s",
        "nodeStatusReportFrequency": "1m",
        "volumeStatsAggPeriod": "0s",
    }
    return yaml.safe_dump(doc, sort_keys=False)


def kubelet_args(bin_dir: Path, layout: Layout) -> list[str]:
    """The kubelet: only what cannot go in its configuration file."""
    return [
        str(bin_dir / "kubelet"),
        f"--config={layout.config / 'kubelet.yaml'}",
        f"--kubeconfig={layout.config / 'kubelet.kubeconfig'}",
        f"--root-dir={layout.kubelet_root}",
        f"--hostname-override={config.NODE_NAME}",
        f"--node-ip={config.NODE_IP}",
        "--v=1",
    ]


def containerd_args(bin_dir: Path, layout: Layout) -> list[str]:
    """containerd with our config file."""
    return [str(bin_dir / "containerd"), f"--config={layout.config / 'containerd.toml'}"]


# -- objects the course creates through the API at start-up ---------------------------


def collection_path(obj: dict) -> str:
    """The API path to POST ``obj`` to (its kinds all take a plain "s" plural).

    >>> collection_path({"apiVersion": "v1", "kind": "Service",
    ...                  "metadata": {"name": "x", "namespace": "kube-system"}})
    '/api/v1/namespaces/kube-system/services'
    """
    version = obj["apiVersion"]
    prefix = "/api/v1" if version == "v1" else f"/apis/{version}"
    namespace = obj["metadata"].get("namespace")
    plural = obj["kind"].lower() + "s"
    return f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"


def apiserver_kubelet_binding() -> dict:
    """Let the API server's kubelet client use the kubelet API (exec, logs)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "sa-course:kube-apiserver-kubelet-admin"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:kubelet-api-admin",
        },
        "subjects": [
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "User",
                "name": CLIENTS["apiserver-kubelet-client"][0],
            }
        ],
    }


# -- the Service network: kube-proxy and CoreDNS ----------------------------------------


def kube_proxy_config(layout: Layout, ports: Ports, mode: str = "nftables") -> str:
    """KubeProxyConfiguration: the Pod subnet as clusterCIDR, nothing listening beyond loopback.

    ``mode`` is ``nftables`` (every rule in kube-proxy's own table) or, where the kernel
    cannot, ``iptables``. No conntrack sysctl is written (all zero: "leave as is"), and
    NodePorts answer on the node's bridge address only.
    """
    doc = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.config / "kube-proxy.kubeconfig")},
        "hostnameOverride": config.NODE_NAME,
        # Not a listener: kube-proxy's idea of the node's primary IP.
        "bindAddress": config.NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{ports.kube_proxy_healthz}",
        "metricsBindAddress": f"127.0.0.1:{ports.kube_proxy_metrics}",
        "mode": mode,
        "clusterCIDR": config.POD_SUBNET,
        "detectLocalMode": "ClusterCIDR",
        "nodePortAddresses": [f"{config.NODE_IP}/32"],
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        # Never lower our own OOM score (that needs CAP_SYS_RESOURCE).
        "oomScoreAdj": 0,
        # iptables mode only: no route_localnet sysctl for NodePorts on 127.0.0.1.
        "iptables": {"localhostNodePorts": False},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def kube_proxy_args(bin_dir: Path, layout: Layout) -> list[str]:
    """kube-proxy: everything is in its configuration file."""
    return [str(bin_dir / "kube-proxy"), f"--config={layout.config / 'kube-proxy.yaml'}"]


def kube_proxy_cleanup_args(bin_dir: Path) -> list[str]:
    """kube-proxy's own clean-up: removes its iptables chains and nftables tables, exits."""
    return [str(bin_dir / "kube-proxy"), "--cleanup"]


def corefile(layout: Layout, ports: Ports) -> str:
    """CoreDNS's Corefile: cluster.local from the API, everything else to the host resolver.

    It answers on the node's bridge address only (``bind``) and reports readiness on
    loopback once the ``kubernetes`` plugin has synced. No metrics, no health port.
    """
    kubeconfig = layout.config / "coredns.kubeconfig"
    return f"""\
.:{ports.dns} {{
    bind {config.NODE_IP}
    errors
    ready 127.0.0.1:{ports.coredns_ready}
    kubernetes {config.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    forward . /etc/resolv.conf
    cache 30
}}
"""


def coredns_args(bin_dir: Path, layout: Layout) -> list[str]:
    """CoreDNS with our Corefile."""
    return [str(bin_dir / "coredns"), "-conf", str(layout.config / "Corefile")]


def coredns_rbac() -> list[dict]:
    """What CoreDNS's ``kubernetes`` plugin reads, and nothing more, granted to its user.

    (Without ``pods verified`` it never watches Pods, so unlike kubeadm's role this one
    has no Pods rule.)
    """
    name, user, read = "system:coredns", CLIENTS["coredns"][0], ["list", "watch"]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "sa-course"}},
        "rules": [
            {"apiGroups": [""], "resources": ["services", "namespaces"], "verbs": read},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "sa-course"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    return [role, binding]


def dns_service(ports: Ports) -> dict:
    """The ``kube-dns`` Service at CLUSTER_DNS, without a selector (no Pod backs it)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "app.kubernetes.io/part-of": "sa-course"},
        },
        "spec": {
            "clusterIP": config.CLUSTER_DNS,
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": ports.dns},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": ports.dns},
            ],
        },
    }


def dns_endpoint_slice(ports: Ports) -> dict:
    """The ``kube-dns`` EndpointSlice: CoreDNS on the node's bridge address.

    A selector-less Service's slice is ours to write; ``managed-by`` tells the
    EndpointSlice controllers to leave it alone.
    """
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kube-dns-node",
            "namespace": "kube-system",
            "labels": {
                "kubernetes.io/service-name": "kube-dns",
                "endpointslice.kubernetes.io/managed-by": "sa-course",
                "app.kubernetes.io/part-of": "sa-course",
            },
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [config.NODE_IP],
                "conditions": {"ready": True},
                "nodeName": config.NODE_NAME,
            }
        ],
        "ports": [
            {"name": "dns", "port": ports.dns, "protocol": "UDP"},
            {"name": "dns-tcp", "port": ports.dns, "protocol": "TCP"},
        ],
    }
