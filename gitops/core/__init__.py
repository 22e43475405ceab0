"""The program's pure core: settings, catalog, event, git facts, carried state, planning, naming.

Plain Python, no Pulumi resources and no CLI: everything here is tested with plain values.
"""
