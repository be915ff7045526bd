"""The course's JupyterLab server: its settings (``overrides.json``) and its contents manager.

Nothing here is imported by a notebook; ``make lab`` configures the server with it.
"""
