"""Workshop mode: one cluster for a classroom, each learner signed in with a bound token.

``python -m helpers.workshop up --learners N --duration 4h`` (``make workshop-up``), then
``status``, ``reset LEARNER``, ``extend --duration 2h``, ``cut-off LEARNER``, ``down`` and
``preflight``; the README's instructor section walks through them. What a learner may do
is in :mod:`helpers.workshop.policy`; the commands are in :mod:`helpers.workshop.classroom`.
"""

from .classroom import ANCHOR, Learner, Workshop, directory

__all__ = ["ANCHOR", "Learner", "Workshop", "directory"]
