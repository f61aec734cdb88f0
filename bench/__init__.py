"""Benchmarks of the batch core against the alternatives (`python -m bench.run`, `make bench`).

Every implementation runs as its own whole process (JVM start included) and is measured from the
outside: wall time, CPU time of the whole process tree, and peak RSS of the tree. See docs/benchmarks.md.
"""
