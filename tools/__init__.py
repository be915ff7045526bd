"""The repository's own tools, outside the package learners import.

``nav`` keeps the notebooks' navigation and the README's contents in step with the files;
``bench_clusters``, ``bench_kind`` and ``bench_workshop`` are ``make bench``. They may
import :mod:`helpers`; nothing in :mod:`helpers` imports them.
"""
