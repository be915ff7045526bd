"""Find credentials in files meant to be published: ``python -m tools.credentials PATH …``.

The rendered edition (``make book``) shows what a real cluster answered; these are what it
must never show (the course masks them: ``helpers.tokens.mask``). A finding names the
file, what was found and where, never the secret itself.
"""

from __future__ import annotations

import html
import re
import sys
from dataclasses import dataclass
from pathlib import Path

#: What counts as a credential, by name.
PATTERNS: dict[str, re.Pattern[str]] = {
    # header.payload.signature: a whole JWT, usable as a bearer token (a masked one stops
    # after ten characters, and a decoded one has no signature)
    "a whole JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"),
    # the same inside a Secret's data (base64 of "eyJ")
    "a base64-encoded JWT": re.compile(r"ZXlK[A-Za-z0-9+/]{60,}={0,2}"),
    # the key itself, after its header (the header alone is shown on purpose: notebook 16)
    "a PEM private key": re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:\s|\\[nr])*[A-Za-z0-9+/=]{40,}"
    ),
    "kubeconfig key data": re.compile(r"client-key-data\"?\s*:\s*\"?[A-Za-z0-9+/=]{20,}"),
    "a kubeconfig token": re.compile(r"\btoken\"?\s*:\s*\"?[A-Za-z0-9._-]{40,}"),
}
#: The files scanned: pages, data and notebooks.
SUFFIXES = {".html", ".json", ".ipynb", ".js", ".txt", ".md"}
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Finding:
    path: Path
    what: str
    offset: int

    def __str__(self) -> str:
        return f"{self.path}: {self.what} at character {self.offset}"


def scan_text(text: str, path: Path) -> list[Finding]:
    """Every credential in ``text``; HTML is also read without its tags (a token split by
    syntax highlighting) and with its entities decoded."""
    views = [text]
    if path.suffix == ".html":
        views.append(html.unescape(_TAG.sub("", text)))
    found: dict[tuple[str, int], Finding] = {}
    for view in views:
        for what, pattern in PATTERNS.items():
            for match in pattern.finditer(view):
                found.setdefault((what, match.start()), Finding(path, what, match.start()))
    return list(found.values())


def scan(paths: list[Path]) -> list[Finding]:
    """Every credential in the files under ``paths`` (files or directories)."""
    findings: list[Finding] = []
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if path.suffix in SUFFIXES:
                findings += scan_text(path.read_text(errors="replace"), path)
    return findings


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    findings = scan(paths)
    for finding in findings:
        print(finding)
    if findings:
        print(f"{len(findings)} credential(s) found: mask them before publishing.")
        return 1
    print(f"no credentials in {', '.join(map(str, paths))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
