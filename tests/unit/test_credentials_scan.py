"""The edition's credential scan (tools/credentials.py): it finds what must never be
published, and passes what the course shows on purpose (masked tokens, decoded claims)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from helpers.cluster import pki
from helpers.tokens import Token, mask
from tools import credentials

# Spelled in pieces: this file must not itself look like it holds a key or a kubeconfig.
KEY_HEADER = "-----BEGIN " + " ".join(("PRIVATE", "KEY")) + "-----"
KEY_FIELD = "client-key" + "-data"


def _found(tmp_path: Path, name: str, text: str) -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    return [f.what for f in credentials.scan([tmp_path])]


def test_a_whole_token_is_found_a_masked_one_is_not(tmp_path: Path, bound_token: str) -> None:
    assert _found(tmp_path, "a.txt", f"Authorization: Bearer {bound_token}") == ["a whole JWT"]
    (tmp_path / "a.txt").unlink()
    shown = f"{mask(bound_token)} {Token(bound_token)!r} {json.dumps(Token(bound_token).claims)}"
    assert _found(tmp_path, "b.txt", shown) == []


def test_a_token_split_by_html_markup_is_found(tmp_path: Path, bound_token: str) -> None:
    header, payload, signature = bound_token.split(".")
    page = f'<span class="s">{header}.</span><span>{payload}</span>.<b>{signature}</b>'
    assert "a whole JWT" in _found(tmp_path, "page.html", page)


def test_a_secrets_base64_token_a_private_key_and_kubeconfig_data(
    tmp_path: Path, bound_token: str
) -> None:
    encoded = base64.b64encode(bound_token.encode()).decode()
    key = pki.new_ca("scan-test").key_pem.decode()
    kubeconfig = f"users:\n- user:\n    {KEY_FIELD}: " + base64.b64encode(b"k" * 40).decode()
    nb = json.dumps({"cells": [{"outputs": [{"text": [f"data: {{token: {encoded}}}\n"]}]}]})
    assert "a base64-encoded JWT" in _found(tmp_path, "x.ipynb", nb)
    assert "a PEM private key" in _found(tmp_path, "key.json", json.dumps({"k": key}))
    assert "kubeconfig key data" in _found(tmp_path, "kc.md", kubeconfig)
    assert "a PEM private key" in _found(tmp_path, "key.txt", key)


def test_a_private_keys_header_alone_is_no_key(tmp_path: Path) -> None:
    # notebook 16 shows the first line of the Pod's credential bundle, and no more
    shown = json.dumps({"text": f"400 credentials.pem\n{KEY_HEADER}\n\n"})
    assert _found(tmp_path, "nb16.ipynb", shown) == []


def test_the_command_fails_and_names_no_secret(tmp_path: Path, bound_token: str, capsys) -> None:
    (tmp_path / "leak.html").write_text(bound_token)
    assert credentials.main([str(tmp_path)]) == 1
    said = capsys.readouterr().out
    assert "leak.html: a whole JWT" in said and bound_token not in said
    (tmp_path / "leak.html").unlink()
    assert credentials.main([str(tmp_path)]) == 0
