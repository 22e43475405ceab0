"""Pulumi entry point: the whole program lives in ``gitops.program``."""

import gc

gc.set_threshold(50_000, 50, 100)  # from the first import on (gitops.program.tune_gc says why)

import pulumi  # noqa: E402

from gitops.program import main, tune_gc  # noqa: E402

tune_gc()  # evaluation is GC-bound at scale: see benchmarks/bench_evaluation.py
pulumi.run(main)
