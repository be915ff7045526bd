"""make lab's contents manager: a course notebook opens with the language_info its kernel
reports (so JupyterLab does not mark it changed), and saving it unrun changes no byte."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager

from helpers.jupyterlab.contents import CourseContentsManager, ipykernel_language_info

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "notebooks/01_service_accounts.ipynb"


def _manager(root: Path) -> CourseContentsManager:
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    return CourseContentsManager(root_dir=str(root))


def test_a_course_notebook_is_served_with_what_a_real_kernel_reports(tmp_path: Path) -> None:
    served = asyncio.run(_manager(tmp_path).get(NOTEBOOK))
    assert nbformat.read(ROOT / NOTEBOOK, as_version=4).metadata.language_info == {
        "name": "python"
    }, "the course commits the language's name only"
    kernel = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    kernel.start_kernel()
    client = kernel.client()
    try:
        client.start_channels()
        client.wait_for_ready(timeout=60)
        reported = client.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        client.stop_channels()
        kernel.shutdown_kernel(now=True)
    assert served["content"]["metadata"]["language_info"] == reported == ipykernel_language_info()


def test_saving_an_unrun_notebook_leaves_the_file_as_committed(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    before = (tmp_path / NOTEBOOK).read_bytes()
    served = asyncio.run(manager.get(NOTEBOOK))
    asyncio.run(manager.save({"type": "notebook", "content": served["content"]}, NOTEBOOK))
    assert (tmp_path / NOTEBOOK).read_bytes() == before


def test_a_notebook_of_another_kernel_or_a_run_one_is_saved_as_it_is(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    other = nbformat.read(tmp_path / NOTEBOOK, as_version=4)
    other.metadata.kernelspec = {"name": "ir", "display_name": "R", "language": "R"}
    other.metadata.language_info = {"name": "R"}
    nbformat.write(other, tmp_path / "notebooks" / "r.ipynb")
    served = asyncio.run(manager.get("notebooks/r.ipynb"))
    assert served["content"]["metadata"]["language_info"] == {"name": "R"}

    run = asyncio.run(manager.get(NOTEBOOK))["content"]
    run.cells[1].outputs = [nbformat.v4.new_output("stream", text="ran\n")]
    run.metadata.language_info = {**ipykernel_language_info(), "version": "3.99.0"}
    asyncio.run(manager.save({"type": "notebook", "content": run}, NOTEBOOK))
    kept = nbformat.read(tmp_path / NOTEBOOK, as_version=4)
    assert kept.metadata.language_info["version"] == "3.99.0", "only the kernel's own is undone"
