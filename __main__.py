"""Pulumi entry point: the whole program lives in ``gitops.program``."""

import pulumi

from gitops.program import main

pulumi.run(main)
