"""Evaluation and benchmarks: conversation tests, retrieval metrics, latency.

Every evaluation or benchmark process runs with the production thread settings (one thread per native
library, or NATIVE_THREADS), set here before numpy, FAISS or the embedder load: OpenMP reads them once,
at start. A variable already set in the environment wins (a benchmark of the libraries' defaults sets
OMP_NUM_THREADS itself). On this two-core machine a search in a process of its own took p50 1,196 ms
with OpenMP's default threads against 22 ms with one.
"""

import os

from actions.settings import thread_environment

for _name, _value in thread_environment(int(os.environ.get("NATIVE_THREADS") or 1)).items():
    os.environ.setdefault(_name, _value)
