"""Run at start-up of the ``abmsync`` processes the tests launch with :func:`child_env`:
every HubSpot emulator they serve has its answers checked, verdicts to a log file.

Python imports ``sitecustomize`` from ``PYTHONPATH`` before the program starts
(https://docs.python.org/3/library/site.html); the checkout goes last on
``sys.path``, so the installed ``abmsync`` is still the one that runs.
"""

import os
import sys

_log = os.environ.get("HUBSPOT_CONTRACT_LOG")
_root = os.environ.get("HUBSPOT_CONTRACT_ROOT")
if _log and _root:
    sys.path.append(_root)
    from tests.connectors.hubspot.contract.child import check_served_emulators

    check_served_emulators(_log)
