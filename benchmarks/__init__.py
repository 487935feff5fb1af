"""``make bench``: our code against a plain baseline, measured in the same run on this machine.

Every benchmark runs its baseline and ours on the same data, alternating, for several rounds,
and reports medians: rows (or messages) per second and CPU-seconds per 10,000 rows. Claims
are ratios against the baseline of the same run, never absolute numbers carried from elsewhere.
Results are printed as one table and written to ``benchmarks/RESULTS.md``.
"""
