"""``abmsync report``: the funnel, SLA, feedback, scores, ABM and closed-loop report.

``inputs`` reads the state database and rules (the only I/O); one module per
section computes typed figures (``model``) from them; ``build`` assembles the
report; ``sections``, ``charts`` and ``html`` render it as one self-contained
HTML file, and ``command`` is the command line.
"""
