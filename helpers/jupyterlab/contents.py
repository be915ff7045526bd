"""Opening a notebook is not a change: serve it with the ``language_info`` its kernel reports.

When a kernel starts, JupyterLab writes the kernel's ``language_info`` (Python's version
among it) into the notebook's metadata, and @jupyter/ydoc skips that update only when it
is deep-equal to what is stored. The course commits ``{"name": "python"}`` — the version
differs from machine to machine — so every notebook a learner merely opened was marked
changed and asked to be saved on close. :class:`CourseContentsManager` serves each notebook
with what its kernel is about to report (ipykernel's ``language_info`` for this Python), and
on save writes back the form the file had, so saving an unrun notebook changes nothing.

``make lab`` starts JupyterLab with
``--ServerApp.contents_manager_class=helpers.jupyterlab.contents.CourseContentsManager``.
"""

from __future__ import annotations

import copy
import functools
import os
import sys
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

__all__ = ["CourseContentsManager", "ipykernel_language_info", "runs_ipykernel_here"]

#: The commands jupyter_client replaces with this interpreter (``KernelManager.format_kernel_cmd``).
_THIS_PYTHON = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info)}


@functools.cache
def ipykernel_language_info() -> dict[str, Any]:
    """What an ipykernel kernel on this Python reports in ``kernel_info_reply``.

    >>> info = ipykernel_language_info()
    >>> info["name"], info["version"] == ".".join(map(str, sys.version_info[:3]))
    ('python', True)
    """
    from ipykernel.ipkernel import IPythonKernel

    return copy.deepcopy(dict(IPythonKernel.language_info))


def runs_ipykernel_here(argv: list[str]) -> bool:
    """True if a kernelspec's command starts ipykernel on the interpreter running this server.

    >>> runs_ipykernel_here(["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    True
    >>> runs_ipykernel_here(["/opt/other/bin/python", "-m", "ipykernel_launcher"])
    False
    """
    if not argv or not {"ipykernel_launcher", "ipykernel"} & set(argv[1:]):
        return False
    exe = argv[0]
    return exe in _THIS_PYTHON or os.path.abspath(exe) == os.path.abspath(sys.executable)


class CourseContentsManager(AsyncLargeFileManager):
    """JupyterLab's default contents manager, serving notebooks as their kernel will see them."""

    def kernel_language_info(self, metadata: dict[str, Any]) -> dict[str, Any] | None:
        """The ``language_info`` the notebook's kernel will report, if it is ipykernel here."""
        name = (metadata.get("kernelspec") or {}).get("name")
        if not name:
            return None
        specs = getattr(self.parent, "kernel_spec_manager", None) or KernelSpecManager()
        try:
            spec = specs.get_kernel_spec(name)
        except (NoSuchKernel, OSError, ValueError):
            return None
        if spec.language.lower() != "python" or not runs_ipykernel_here(list(spec.argv)):
            return None
        info = ipykernel_language_info()
        stored = metadata.get("language_info") or {}
        return info if stored.get("name", info["name"]) == info["name"] else None

    async def get(
        self,
        path: str,
        content: bool = True,
        type: str | None = None,  # the contents API's own names
        format: str | None = None,
        require_hash: bool = False,
    ) -> dict[str, Any]:
        model = await super().get(
            path, content=content, type=type, format=format, require_hash=require_hash
        )
        if model.get("type") == "notebook" and model.get("content"):
            metadata = model["content"]["metadata"]
            if info := self.kernel_language_info(metadata):
                metadata["language_info"] = nbformat.from_dict(copy.deepcopy(info))
        return model

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        content = model.get("content")
        if model.get("type") == "notebook" and content:
            metadata = content.get("metadata") or {}
            info = self.kernel_language_info(metadata)
            stored = self._stored_language_info(path)
            if info and metadata.get("language_info") == info and stored is not None:
                metadata = {**metadata, "language_info": stored}
                model = {**model, "content": {**content, "metadata": metadata}}
        return await super().save(model, path)

    def _stored_language_info(self, path: str) -> dict[str, Any] | None:
        """The ``language_info`` in the file on disk, if it is a part of the kernel's
        (``{"name": "python"}``, as the course commits it); else ``None``."""
        try:
            stored = nbformat.read(self._get_os_path(path.strip("/")), as_version=4)
        except (OSError, ValueError):
            return None
        info, kernel = stored.metadata.get("language_info"), ipykernel_language_info()
        if not isinstance(info, dict) or info == kernel:
            return None
        return dict(info) if all(kernel.get(k) == v for k, v in info.items()) else None
