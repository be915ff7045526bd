"""connect() re-reads a kubeconfig's tokenFile when it changes (a Pod's rotated token)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from kubernetes import config

from helpers.course import follow_token_file


def _kubeconfig(tmp_path: Path, user: dict) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_replaced_token_file_is_read_again(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first")  # as the kubelet writes it: no newline
    kubeconfig = _kubeconfig(tmp_path, {"tokenFile": str(token)})
    api = config.new_client_from_config(config_file=str(kubeconfig))
    follow_token_file(api, kubeconfig)
    cfg = api.configuration
    assert cfg.get_api_key_with_prefix("BearerToken") == "Bearer first"
    # the kubelet writes the new token into a new file and swaps a symlink to it
    new = tmp_path / "token.new"
    new.write_text("second")
    os.utime(new, ns=(token.stat().st_mtime_ns + 10**9,) * 2)
    new.replace(token)
    assert cfg.get_api_key_with_prefix("BearerToken") == "Bearer second"


def test_a_token_in_the_file_itself_is_left_alone(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig(tmp_path, {"token": "inline"})
    api = config.new_client_from_config(config_file=str(kubeconfig))
    hook = api.configuration.refresh_api_key_hook
    follow_token_file(api, kubeconfig)
    assert api.configuration.refresh_api_key_hook is hook
    assert api.configuration.get_api_key_with_prefix("BearerToken") == "Bearer inline"
