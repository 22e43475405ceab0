"""Pulumi entry point: the whole program lives in ``gitops.program``."""

import pulumi

from gitops.program import main, tune_gc

tune_gc()  # evaluation is GC-bound at scale: see benchmarks/bench_evaluation.py
pulumi.run(main)
