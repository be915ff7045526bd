"""The partner API server's command lines and refusals (notebook 17 runs it for real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.cluster import config, partner


def _flags(argv: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for arg in argv[1:]:
        key, _, value = arg.partition("=")
        out.setdefault(key, []).append(value)
    return out


def test_the_partner_listens_where_pods_reach_it_and_nowhere_else(tmp_path: Path) -> None:
    flags = _flags(partner.apiserver_args(Path("/bin/kube-apiserver"), tmp_path))
    assert flags["--bind-address"] == [config.NODE_IP]
    assert flags["--secure-port"] == [str(partner.API_PORT)]
    assert flags["--etcd-servers"] == [f"http://127.0.0.1:{partner.ETCD_CLIENT_PORT}"]
    etcd = _flags(partner.etcd_args(Path("/bin/etcd"), tmp_path))
    listens = etcd["--listen-client-urls"] + etcd["--listen-peer-urls"]
    assert all("127.0.0.1" in url for url in listens)


def test_the_partner_is_another_cluster(tmp_path: Path) -> None:
    """Its own issuer (a JWT authenticator may not trust the server's own), RBAC only."""
    flags = _flags(partner.apiserver_args(Path("/bin/kube-apiserver"), tmp_path))
    assert flags["--service-account-issuer"] == [partner.ISSUER] != [config.SERVICE_ACCOUNT_ISSUER]
    assert flags["--authorization-mode"] == ["RBAC"]
    assert flags["--authentication-config"] == [str(tmp_path / "authentication-config.yaml")]
    assert all(str(tmp_path / "pki") in v[0] for k, v in flags.items() if k.endswith("-file"))


def test_its_ports_are_not_the_course_clusters() -> None:
    ports = config.Ports()
    taken = {*ports.by_component().values(), ports.apiserver, ports.dns}
    assert not taken & {partner.API_PORT, partner.ETCD_CLIENT_PORT, partner.ETCD_PEER_PORT}


@pytest.mark.parametrize("backend", ["kind", "kubeconfig"])
def test_only_the_local_backend_runs_it_and_the_others_say_why(backend: str) -> None:
    assert partner.unavailable_reason("local") == ""
    why = partner.unavailable_reason(backend)
    assert "COURSE_BACKEND=local" in why and not why.endswith(".")


def test_a_refused_file_is_explained_with_the_servers_own_words(tmp_path: Path) -> None:
    layout = config.Layout(cache=tmp_path / "cache", state=tmp_path / "state")
    server = partner.PartnerServer(layout)
    log = server.sup.log("kube-apiserver")
    log.parent.mkdir(parents=True)
    log.write_text(
        "I1203 started\n"
        'E1203 authentication.go:801] "failed to validate authentication config" err=<\n'
        "\tjwt[0].claimValidationRules[0].expression: Invalid value: compilation failed: "
        + "ERROR: <input>:1:1: Syntax error: mismatched input "
        * 20
        + "\n"
        'W1203 16:23:15.133187   24636 logging.go:55] [core] grpc: addrConn.createTransport"\n'
        " >\n"
        "I1203 something else\n"
    )
    said = server.last_complaint()
    # the complaint's start (a long one is cut at its end), not the etcd client's noise after it
    assert said.startswith("E1203") and "compilation failed" in said and "grpc" not in said
