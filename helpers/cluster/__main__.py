"""Command line: ``python -m helpers.cluster up|down|status|running|build|kubeconfig``.

Errors are printed as one sentence (no traceback) and exit with status 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from . import config, current, down, get_backend, host, kubeconfig, status, up
from .build import ensure_all_built
from .errors import ClusterError
from .progress import Progress
from .toolsimage import ensure_pod_images


def _print_status() -> None:
    st = status()
    from .local import LocalStatus

    if isinstance(st, LocalStatus):
        version = f"Kubernetes {st.kubernetes}, " if st.kubernetes else ""
        print(f"local cluster, {version}state in {st.state_dir}")
        if not st.exists:
            print("  not running (no state)")
            return
        for c in st.components:
            pid = f"pid {c.pid}, {c.rss_mib:.0f} MiB" if c.running else "NOT RUNNING"
            print(f"  {c.name:<24} {pid}")
        print(f"  API ready: {st.api_ready}   node Ready: {st.node_ready}")
        total = sum(c.rss_mib for c in st.components)
        print(f"  resident memory of the cluster processes: {total:.0f} MiB")
    else:
        print(st)


def _answers() -> bool:
    """True if the course cluster (of ``COURSE_BACKEND``, else the last started) answers."""
    from kubernetes import config as kube_config

    from . import answers

    recorded = current()
    if recorded is None:
        return False
    try:
        api = kube_config.new_client_from_config(config_file=recorded["kubeconfig"])
    except Exception:
        return False
    return answers(api)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.cluster", description=__doc__)
    parser.add_argument(
        "command",
        choices=["up", "down", "status", "running", "build", "kubeconfig", "kind-image"],
        help=(
            "up: start or reuse; down: stop and clean; running: exit 0 if the course "
            "cluster answers; build: only build binaries and images; kind-image: build the "
            "kind node image for machines without a registry"
        ),
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up()
        elif args.command == "down":
            down()
        elif args.command == "status":
            _print_status()
        elif args.command == "running":
            return 0 if _answers() else 1
        elif args.command == "kubeconfig":
            print(kubeconfig())
        elif args.command == "build":
            progress, layout = Progress(), config.Layout()
            get_backend("local")  # imports only
            host.require_linux_root()
            host.ensure_packages(progress)
            ensure_all_built(layout, progress)
            ensure_pod_images(layout, progress)
            progress.say("binaries and images are ready")
        elif args.command == "kind-image":
            from .kindimage import ensure_node_image

            progress = Progress()
            progress.say(f"kind node image: {ensure_node_image(progress=progress)}")
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired as exc:
        command = " ".join(map(str, exc.cmd[:3])) if isinstance(exc.cmd, list) else str(exc.cmd)
        print(
            f"error: `{command} …` did not finish within {exc.timeout:.0f} s: check what it "
            "waits for (the network, Docker, the disk) and run the command again.",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
