"""``make book``: the rendered edition — every notebook and lab as a real cluster ran them.

1. **Sources.** ``make test``'s local run keeps each notebook and lab as it executed them,
   outputs and all, in ``build/executed/`` (tests/executed.py), with ``run.json`` saying
   which cluster, Kubernetes version and commit, and when. Those are used when every one
   is there, newer than its source and without a failed cell; otherwise ``make book``
   executes the whole course once more on the local cluster (one run makes one edition).
2. **Site.** Sphinx with myst-nb renders the stored outputs (it executes nothing), in
   course order, each notebook followed by its lab; sphinx-book-theme gives previous /
   next, contents and search; cells JupyterLab shows folded are folded (``<details>``);
   Mermaid diagrams render in the browser from a copy of the npm package (cached under
   ``~/.cache/sa-course``, never committed), so no page loads anything from elsewhere.
3. **No credentials.** The site and the executed notebooks are scanned
   (tools/credentials.py); a finding fails the build and the site is removed.

``python -m tools.edition [--serve]``; the site is ``build/book/html/index.html``, best
read over HTTP (``make book-serve``: Mermaid's ES modules do not load from ``file://``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import nbformat

from helpers.cluster.settings import settings
from tools import credentials
from tools.nav import ROOT, Entry, entries

BUILD = ROOT / "build"
EXECUTED = BUILD / "executed"
SOURCE = BUILD / "book" / "src"
SITE = BUILD / "book" / "html"
CONF = ROOT / "tools" / "edition_conf"
#: Mermaid as JupyterLab 4.6 bundles it (its third-party licences), MIT-licensed.
MERMAID = "11.16.1"
MERMAID_SHA512 = (
    "TQsq6u22fAn3rek5VOubrhKPo1g5hwC3FXUN9hiyupTckcYiGuuKGkNQrKYwGJkXUxZdojwRG46gsSCFZMDp4g=="
)
CACHE = settings().cache_dir  # ~/.cache/sa-course, or COURSE_CACHE_DIR
#: The executed-notebook metadata key (tests/executed.py).
EXECUTED_KEY = "sa_course_executed"
#: Seconds for the whole course to run once on the local cluster (it takes about 10 min).
EXECUTE_TIMEOUT = 3600


def say(message: str) -> None:
    print(f"[edition] {message}", flush=True)


def course_order() -> list[Entry]:
    """Every notebook, each followed by the labs that practise it."""
    notebooks, labs = entries()
    order: list[Entry] = []
    for notebook in notebooks:
        order.append(notebook)
        order += [lab for lab in labs if lab.number == notebook.number]
    return order


def executed_copy(entry: Entry) -> Path:
    return EXECUTED / entry.path.parent.name / entry.path.name


def why_stale(entry: Entry) -> str:
    """'' if the executed copy can be published; else why not."""
    copy = executed_copy(entry)
    if not copy.is_file():
        return "not executed"
    if copy.stat().st_mtime < entry.path.stat().st_mtime:
        return "older than its source"
    failed = nbformat.read(copy, as_version=4).metadata.get(EXECUTED_KEY, {}).get("failed_cells")
    if failed is None:
        return "not written by the course's test run"
    if failed:
        return f"cell(s) {failed} failed"
    return ""


def execute_course() -> None:
    """Run every notebook and lab on the local cluster (starting it), keeping their outputs."""
    env = {**os.environ, "COURSE_BACKEND": "local", "COURSE_EXECUTED_DIR": str(EXECUTED)}
    say("executing the course on the local cluster (about 10 min) …")
    subprocess.run(
        [sys.executable, "-m", "helpers.cluster", "up"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=900,
    )
    shutil.rmtree(EXECUTED, ignore_errors=True)
    rc = subprocess.call(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
         "-p", "no:cacheprovider", "-q", "-n", "4", "--dist", "loadgroup",
         "notebooks", "labs"],
        cwd=ROOT, env=env, timeout=EXECUTE_TIMEOUT,
    )  # fmt: skip
    sys.path.insert(0, str(ROOT / "tests"))
    import executed

    executed.record_run(EXECUTED, env)
    if rc != 0:
        raise SystemExit("some notebook cells failed on the local cluster: see above, then retry.")


def mermaid() -> Path:
    """Mermaid's ES-module build (entry file and chunks), from npm, checked and cached."""
    home = CACHE / "mermaid" / MERMAID
    entry = home / "mermaid.esm.min.mjs"
    if entry.is_file():
        return home
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("`make book` needs npm (Node.js) to fetch Mermaid: install Node.js.")
    with tempfile.TemporaryDirectory() as tmp:
        say(f"fetching mermaid {MERMAID} from npm (once) …")
        subprocess.run(
            [npm, "pack", f"mermaid@{MERMAID}", "--pack-destination", tmp, "--silent"],
            check=True, timeout=300, capture_output=True,
        )  # fmt: skip
        tarball = next(Path(tmp).glob("mermaid-*.tgz"))
        digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if digest != MERMAID_SHA512:
            raise SystemExit(f"npm's mermaid {MERMAID} is not the one the course knows: refused.")
        staging = Path(tmp) / "mermaid"
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("package/dist/")
                wanted = name == "mermaid.esm.min.mjs" or (
                    name.startswith("chunks/mermaid.esm.min/") and name.endswith(".mjs")
                )
                if member.isfile() and wanted and ".." not in name:
                    target = staging / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
        home.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(home, ignore_errors=True)
        shutil.move(staging, home)
    return home


def front_page(order: list[Entry], run: dict[str, object]) -> str:
    """index.md: what the edition is, which run produced it, and the contents."""
    changed = " (with uncommitted changes)" if run.get("changed_files") else ""
    lines = [
        "# How Kubernetes authenticates internal access: the rendered edition",
        "",
        "Every notebook and lab of the course, with the outputs of **one run against a real "
        "cluster**: the tables, tokens (masked), diagrams and answers a learner sees.",
        "",
        "```{admonition} Where these outputs come from",
        f"- cluster: the course's **{run.get('backend', '?')}** cluster",
        f"- Kubernetes: **{run.get('kubernetes', '?')}**",
        f"- commit: **{run.get('commit', '?')}**{changed}",
        f"- finished: **{run.get('finished', '?')}**",
        "",
        "On your own cluster names, times, keys and some versions will differ: the notebooks "
        "read them from the cluster they run on. Labs are shown as a learner first opens "
        "them: starter cells and *Not attempted*, no solutions.",
        "```",
        "",
        "To take the course, clone it and run `make lab` ([about the course](README.md)).",
        "",
        "## Contents",
        "",
        "| # | | what you learn |",
        "|---|---|---|",
    ]
    for entry in order:
        kind = "lab" if entry.is_lab else entry.number
        link = f"{entry.path.parent.name}/{entry.path.stem}.ipynb"
        lines.append(f"| {kind} | [{entry.title}]({link}) | {entry.scope} |")
    toctree = "\n".join(f"{e.path.parent.name}/{e.path.stem}" for e in order)
    lines += [
        "",
        "```{toctree}",
        ":hidden:",
        ":maxdepth: 1",
        "",
        toctree,
        "About the course <README>",
        "```",
        "",
    ]
    return "\n".join(lines)


def write_sources(order: list[Entry]) -> None:
    """build/book/src: the executed notebooks, the README and the front page."""
    shutil.rmtree(SOURCE, ignore_errors=True)
    for entry in order:
        target = SOURCE / entry.path.parent.name / entry.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(executed_copy(entry), target)
    shutil.copy2(ROOT / "README.md", SOURCE / "README.md")
    # the files the notebooks link to (manifests, a helper's source): downloads on the site
    shutil.copytree(ROOT / "manifests", SOURCE / "manifests")
    shutil.copytree(
        ROOT / "helpers", SOURCE / "helpers", ignore=shutil.ignore_patterns("__pycache__")
    )
    record = EXECUTED / "run.json"
    run = json.loads(record.read_text()) if record.is_file() else {}
    (SOURCE / "index.md").write_text(front_page(order, run))
    static = SOURCE / "_static"
    shutil.copytree(mermaid(), static / "mermaid")


def build_site() -> None:
    shutil.rmtree(SITE, ignore_errors=True)
    say("rendering the site (Sphinx, myst-nb) …")
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(CONF), str(SOURCE),
         str(SITE)],
        cwd=ROOT, check=True, timeout=900,
    )  # fmt: skip


def scan_or_remove() -> None:
    findings = credentials.scan([SITE, EXECUTED])
    if findings:
        for finding in findings[:20]:
            print(finding)
        shutil.rmtree(SITE, ignore_errors=True)
        raise SystemExit(f"{len(findings)} credential(s) in the edition: site removed, mask them.")


def build(execute_if_stale: bool = True) -> Path:
    """Build the edition; return the path of its front page."""
    started = time.monotonic()
    order = course_order()
    stale = {e.path.name: why for e in order if (why := why_stale(e))}
    if stale:
        first = next(iter(stale.items()))
        say(f"{len(stale)} of {len(order)} executed notebooks unusable ({first[0]}: {first[1]})")
        if not execute_if_stale:
            raise SystemExit("run `make test` (or `make book`) to execute the course first.")
        execute_course()
        still = {e.path.name: why for e in order if (why := why_stale(e))}
        if still:
            raise SystemExit(f"still unusable after executing: {still}")
    write_sources(order)
    build_site()
    scan_or_remove()
    say(f"done in {time.monotonic() - started:.0f} s: {SITE / 'index.html'}")
    return SITE / "index.html"


def serve(port: int = 8008) -> None:
    """Serve the site on 127.0.0.1 (Ctrl-C stops it)."""
    say(f"serving {SITE} on http://127.0.0.1:{port}/ (Ctrl-C stops)")
    subprocess.call(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(SITE)]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="serve the built site")
    parser.add_argument(
        "--no-execute", action="store_true", help="fail instead of executing the course"
    )
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    build(execute_if_stale=not args.no_execute)
    return 0


if __name__ == "__main__":
    sys.exit(main())
