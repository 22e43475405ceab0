"""Admin commands over the Automation API: release (CI), history, rollback, holds, init, retire,
preview fleet (deploy/stop/sweep/status), drift. Decisions are pure functions; only stack.py runs the CLI.
"""
