"""The labs: the framework (:mod:`.checks`, :mod:`.progress`) and one checker module per lab.

Each module defines a :class:`helpers.labs.checks.Lab` subclass that seeds its scenario in its
own ``lab-NN-…`` namespace and holds the questions ``q1, q2, …``:

=====================================  ======================================================
module                                 lab
=====================================  ======================================================
:mod:`.lab02_leaked_token`             a legacy token has leaked: trace it and revoke it
:mod:`.lab04_least_privilege`          give a log-reading controller exactly what it needs
:mod:`.lab07_401_or_403`               diagnose and fix a 401 and a 403
:mod:`.lab08_external_audience`        a short-lived token for another audience, verified offline
:mod:`.lab11_lock_down`                stop mounting tokens that are not needed, retire a legacy one
:mod:`.lab12_who_can_become`           who can act as a ServiceAccount; prove one path, close it
:mod:`.lab16_pod_identity`             a Pod certificate another Pod accepts over mutual TLS
:mod:`.lab17_partner_trust`            make another API server trust exactly one account
=====================================  ======================================================
"""

LABS = {
    "02": "helpers.labs.lab02_leaked_token",
    "04": "helpers.labs.lab04_least_privilege",
    "07": "helpers.labs.lab07_401_or_403",
    "08": "helpers.labs.lab08_external_audience",
    "11": "helpers.labs.lab11_lock_down",
    "12": "helpers.labs.lab12_who_can_become",
    "16": "helpers.labs.lab16_pod_identity",
    "17": "helpers.labs.lab17_partner_trust",
}
"""The lab module of each lab notebook, by the number of the notebook it practises."""
