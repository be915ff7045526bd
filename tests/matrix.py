"""``make test-versions``: every notebook and lab on the local cluster at every supported minor.

For each Kubernetes minor the course supports (:data:`helpers.cluster.versions.RELEASES`,
1.33 to 1.37) it starts the local cluster at that release (building it once, cached), runs
every notebook, lab, checker test and cluster test that is not about one backend's
machinery, and stops the cluster. The result — notebook × version, ``passed`` or the first
failing cell — is written into the README between the ``versions`` markers, from this
run (never typed by hand), with the date, the commit and the run's time.

    python tests/matrix.py [--versions 1.33,1.37] [--no-readme] [pytest args …]
    python tests/matrix.py --rerender   # the table again from the last run's XML
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from run import (  # noqa: E402
    ON_A_CLUSTER,
    WORKERS,
    cluster_cmd,
    env_for,
    pytest,
    say,
    selection,
    with_marker,
    xdist,
)

from helpers.cluster import versions  # noqa: E402

README = ROOT / "README.md"
BEGIN, END = "<!-- versions -->", "<!-- /versions -->"
#: Where the result of each run is kept (JUnit XML, one per minor), for the table.
RESULTS = ROOT / ".test-versions"


def _file_of(case: ET.Element) -> str:
    """The notebook, lab or test module a JUnit test case belongs to.

    >>> _file_of(ET.Element("testcase", classname="notebooks.00_setup.ipynb", name="Cell 0"))
    'notebooks/00_setup.ipynb'
    >>> _file_of(ET.Element("testcase", classname="tests.labs.test_checkers", name="t"))
    'tests/labs/test_checkers.py'
    """
    if case.get("file"):
        return case.get("file", "").split("::")[0]
    dotted = case.get("classname", "")
    if dotted.endswith(".ipynb"):
        return dotted.removesuffix(".ipynb").replace(".", "/") + ".ipynb"
    return dotted.replace(".", "/") + ".py"


def results(xml: Path) -> OrderedDict[str, str]:
    """file -> "passed" or the first failing item (``Cell 7``), from a JUnit XML file."""
    out: OrderedDict[str, str] = OrderedDict()
    for case in ET.parse(xml).iter("testcase"):
        where = _file_of(case)
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        if where not in out:
            out[where] = "passed"
        if (failed or skipped) and out[where] == "passed":
            label = case.get("name", "?")
            out[where] = f"{'skipped' if skipped else 'failed'}: {label}"
    return out


def table(per_version: dict[str, OrderedDict[str, str]]) -> str:
    """The README's markdown table: notebooks and labs by row, versions by column."""
    rows: list[str] = []
    for outcome in per_version.values():
        for name in outcome:
            if name.startswith(("notebooks/", "labs/")) and name not in rows:
                rows.append(name)
    rows.sort()
    versions_ = list(per_version)
    lines = [
        "| | " + " | ".join(versions_) + " |",
        "|---|" + "---|" * len(versions_),
    ]
    for name in rows:
        cells = []
        for v in versions_:
            got = per_version[v].get(name, "not run")
            cells.append("✓ passed" if got == "passed" else got)
        lines.append(f"| [{Path(name).stem}]({name}) | " + " | ".join(cells) + " |")
    others = []
    for v in versions_:
        tests = {k: r for k, r in per_version[v].items() if k.startswith("tests/")}
        bad = [f"{Path(k).name} ({r})" for k, r in tests.items() if r != "passed"]
        others.append("✓ all passed" if tests and not bad else ("; ".join(bad) or "not run"))
    lines.append("| cluster and checker tests | " + " | ".join(others) + " |")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = README.read_text()
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {BEGIN} … {END} markers")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.strip() or "?"


def rerender(wanted: list[str]) -> str:
    """The table again from the last run's JUnit XML, under that run's own footnote."""
    block = README.read_text().split(BEGIN, 1)[1].split(END, 1)[0]
    footnote = [line for line in block.splitlines() if line.startswith("*Written by")]
    per_version = {
        versions.resolve(minor).kubernetes: results(RESULTS / f"{minor}.xml")
        for minor in wanted
        if (RESULTS / f"{minor}.xml").is_file()
    }
    return table(per_version) + ("\n\n" + footnote[0] if footnote else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", default=",".join(versions.RELEASES))
    parser.add_argument("--no-readme", action="store_true", help="do not write the README")
    parser.add_argument(
        "--rerender", action="store_true", help="only redraw the table from the last run's XML"
    )
    args, pytest_args = parser.parse_known_args(argv)
    wanted = [v.strip() for v in args.versions.split(",") if v.strip()]
    if args.rerender:
        write_readme(rerender(wanted))
        return 0
    RESULTS.mkdir(exist_ok=True)
    t0 = time.monotonic()
    per_version: dict[str, OrderedDict[str, str]] = {}
    times: dict[str, float] = {}
    ok = True
    # all but the local cluster's own machinery, as the floor run of `make test`
    marker = with_marker(selection("local", own_machinery=False), pytest_args)
    for minor in wanted:
        release = versions.resolve(minor)
        started = time.monotonic()
        env = env_for("local", **{versions.ENV: minor})
        say(f"Kubernetes {release.kubernetes}: starting the local cluster")
        cluster_cmd("down", env)
        if cluster_cmd("up", env) != 0:
            per_version[release.kubernetes] = OrderedDict(cluster="the cluster did not start")
            ok = False
            continue
        xml = RESULTS / f"{minor}.xml"
        say(f"Kubernetes {release.kubernetes}: every notebook, lab and cluster test")
        rc = pytest(ON_A_CLUSTER, env, [*xdist(WORKERS), f"--junitxml={xml}", *marker], None)
        cluster_cmd("down", env)
        ok &= rc == 0
        per_version[release.kubernetes] = results(xml) if xml.is_file() else OrderedDict()
        times[release.kubernetes] = time.monotonic() - started
        minutes = times[release.kubernetes] / 60
        say(f"Kubernetes {release.kubernetes}: pytest exit {rc} in {minutes:.1f} min")
    text = table(per_version)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    spent = ", ".join(f"{v} {s / 60:.1f} min" for v, s in times.items())
    text += (
        f"\n\n*Written by `make test-versions` on {when} at commit {commit()}: "
        f"{(time.monotonic() - t0) / 60:.0f} min ({spent}), local cluster, "
        f"{WORKERS} pytest-xdist workers.*"
    )
    print(text)
    if not args.no_readme:
        write_readme(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
