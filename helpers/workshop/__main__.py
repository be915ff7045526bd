"""``python -m helpers.workshop`` — the instructor's commands (run as the cluster's admin)."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from ..cluster.errors import ClusterError
from ..cluster.settings import settings

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> int:
    """``"4h"``, ``"90m"``, ``"1h30m"``, ``"3600s"`` or ``"3600"`` → seconds.

    >>> duration("4h"), duration("1h30m"), duration("600")
    (14400, 5400, 600)
    """
    if text.isdigit():
        return int(text)
    parts = re.findall(r"(\d+)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 4h, 90m or 1h30m")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m helpers.workshop", description=__doc__)
    p.add_argument(
        "--name",
        default=settings().workshop,
        help="the workshop's name, the first part of every prefix (default ws1)",
    )
    p.add_argument(
        "--server",
        default="",
        help="the API server URL for the learners' "
        "kubeconfigs (default: the local cluster's LAN address, else the admin's)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create the learners and write their kubeconfigs")
    up.add_argument("--learners", type=int, required=True)
    up.add_argument("--duration", type=duration, default=duration("4h"))
    up.add_argument(
        "--hub",
        action="store_true",
        help="also run JupyterHub: each learner's JupyterLab in a Pod, signed in by a link",
    )
    up.add_argument(
        "--hub-address",
        default="127.0.0.1",
        help="where the hub listens (default loopback; the classroom LAN's address to share it)",
    )
    up.add_argument(
        "--hub-image",
        default="",
        help="an existing cluster: the course image in a registry its nodes pull from "
        "(`python -m helpers.workshop image` writes it)",
    )
    up.add_argument(
        "--hub-pod-address",
        default="",
        help="an existing cluster: this machine's address the learners' Pods reach",
    )
    sub.add_parser("image", help="write the browser classroom's course image; how to push it")
    sub.add_parser("status", help="one line per learner")
    reset = sub.add_parser("reset", help="empty a learner's namespaces and hand out a new token")
    reset.add_argument("learner", help="the learner's prefix, e.g. ws1-07")
    reset.add_argument("--duration", type=duration, default=duration("4h"))
    ext = sub.add_parser("extend", help="new tokens for everyone, valid --duration from now")
    ext.add_argument("--duration", type=duration, required=True)
    cut = sub.add_parser("cut-off", help="revoke one learner's token at once")
    cut.add_argument("learner")
    sub.add_parser("down", help="remove the workshop; prove every kubeconfig now gets 401")
    board = sub.add_parser("board", help="learners × lab questions, from what the checks recorded")
    board.add_argument("--watch", type=float, metavar="SECONDS", help="refresh until Ctrl-C")
    board.add_argument("--html", help="also write a self-refreshing page to project")
    board.add_argument(
        "--verify",
        action="store_true",
        help="also re-run the cluster-state checks as the instructor",
    )
    pre = sub.add_parser("preflight", help="can this cluster host the workshop? (or a learner)")
    pre.add_argument("--learners", type=int, default=6)
    pre.add_argument("--learner-kubeconfig", help="check a learner's kubeconfig instead")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from .. import connect
    from . import preflight
    from .classroom import Workshop
    from .hub import Hub, HubSettings

    if args.command == "image":
        return _image()
    if args.command == "preflight" and args.learner_kubeconfig:
        return preflight.print_lines(preflight.learner(args.learner_kubeconfig))
    admin = connect(start=args.command in ("up", "preflight"))
    ws = Workshop(admin, args.name, server=args.server)
    if args.command == "preflight":
        return preflight.print_lines(preflight.instructor(admin, args.learners))
    hub = Hub(
        ws,
        HubSettings(
            address=getattr(args, "hub_address", "127.0.0.1"),
            image=getattr(args, "hub_image", ""),
            pod_address=getattr(args, "hub_pod_address", ""),
        ),
    )
    if args.command == "up":
        if args.hub:
            hub.reach_pods()  # before any learner exists: one sentence if the hub cannot
        learners = ws.up(args.learners, args.duration)
        if args.hub:
            links = hub.up([learner.prefix for learner in learners], args.duration)
            print(f"\nJupyterHub: {hub.settings.url}/ — hand out these {len(links)} sign-in links")
            print("(one per learner, each in its own file; a link signs in once):")
            for prefix, path in links.items():
                print(f"  {prefix}: {path}")
            return 0
        print(f"\nhand out these {len(learners)} kubeconfigs (one per learner; they hold a token):")
        for learner in learners:
            print(f"  {learner.prefix}: {learner.kubeconfig}  (until {learner.expires:%H:%M} UTC)")
        print("a learner runs: COURSE_BACKEND=kubeconfig COURSE_KUBECONFIG=<file> make lab")
    elif args.command == "status":
        table = ws.status()
        print(table.to_string(index=False) if not table.empty else "no learners")
    elif args.command == "reset":
        hub.forget(args.learner)
        learner = ws.reset(args.learner, args.duration)
        if hub.running():
            link = hub.hand_out([learner.prefix], args.duration)[learner.prefix]
            print(f"{learner.prefix}: a fresh JupyterLab at their next sign-in; new link in {link}")
        print(
            f"{learner.prefix}: new kubeconfig {learner.kubeconfig} "
            f"(until {learner.expires:%H:%M} UTC); the old one no longer works"
        )
    elif args.command == "extend":
        for learner in ws.extend(args.duration):
            print(f"  {learner.prefix}: until {learner.expires:%Y-%m-%d %H:%M} UTC")
        if hub.running():
            links = hub.extend(args.duration)
            print(f"the hub has a new token; {len(links)} new sign-in links in {hub.ws.dir}")
        print("learners pick the new token up at their next connect() (re-run the first cell)")
    elif args.command == "cut-off":
        gone = ws.cut_off(args.learner)
        hub.forget(args.learner)  # their session and server at the hub, if one runs
        print(
            f"{args.learner}: anchor deleted (their token gets 401 within seconds), and "
            f"{len(gone)} objects that could carry their rights: "
            + (", ".join(gone[:8]) + (" …" if len(gone) > 8 else "") if gone else "none")
        )
    elif args.command == "board":
        from pathlib import Path

        from . import board

        page = Path(args.html) if args.html else None
        if args.watch:
            board.watch(ws, args.watch, page)
        else:
            checked = board.verify(ws) if args.verify else None
            table = board.board(ws, verified=checked)
            print(table.to_string() if not table.empty else "no learners")
            print(
                "✓ seen on the cluster · ✓? reported by the learner's own checks (unverified) · "
                "✗N not yet after N attempts · ⚠ an entry no check wrote"
            )
            if page:
                page.write_text(board.to_html(table, f"workshop {ws.name}"))
            if checked is not None:
                print(
                    "\nwhat the cluster shows now (re-checked as the instructor; — needs the "
                    "learner's answer):"
                )
                print(checked.to_string())
    elif args.command == "down":
        hub.down()
        proof = ws.down()
        print(proof.to_string(index=False) if not proof.empty else f"no workshop {ws.name} here")
    return 0


def _image() -> int:
    """Build (or take from the cache) the course image and say how to push it."""
    from ..cluster import config
    from ..cluster.progress import Progress
    from .hubimage import COURSE_IMAGE, ensure_course_image

    archive = ensure_course_image(config.Layout(), Progress())
    print(f"the course image {COURSE_IMAGE}, as a docker-archive: {archive}")
    print("push it to a registry the cluster's nodes pull from, for example:")
    print(f"  skopeo copy docker-archive:{archive} docker://REGISTRY/sa-course/jupyterlab:1")
    print(
        "then: make workshop-up … HUB=1 HUB_IMAGE=REGISTRY/sa-course/jupyterlab:1 "
        "HUB_POD_ADDRESS=<this machine's address on the Pods' network>"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
