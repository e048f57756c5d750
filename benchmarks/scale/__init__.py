"""The parts of ``bench_scale.py``: build, server processes, route probes, load,
one run per code tree, report."""
