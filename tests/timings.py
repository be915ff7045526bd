"""Where a run of ``make test`` spent its time: seconds per test file, from its JUnit XML.

    python tests/timings.py /tmp/sa-course-tests-XXXX [--top 25]

tests/run.py writes one XML report beside each run's log; this sums each report's test
times by file (a notebook, a lab, a test module), biggest first, one table per run.
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from matrix import _file_of as file_of  # the same reading of JUnit class names


def by_file(report: Path) -> Counter[str]:
    """Seconds per test file in one JUnit XML report."""
    seconds: Counter[str] = Counter()
    for case in ET.parse(report).getroot().iter("testcase"):
        seconds[file_of(case)] += float(case.get("time", 0))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", type=Path, help="the folder tests/run.py printed")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for report in sorted(args.logs.glob("*.xml")):
        seconds = by_file(report)
        print(f"== {report.name}: {sum(seconds.values()) / 60:.1f} min of test time")
        for name, s in seconds.most_common(args.top):
            print(f"  {s:7.1f} s  {name}")


if __name__ == "__main__":
    main()
