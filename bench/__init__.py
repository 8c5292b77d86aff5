"""Benchmarks: measurements, not tests. `python -m bench` measures the worker's figures
and writes docs/benchmarks.md; `python -m bench.groq_pacing` measures Groq pacing."""
