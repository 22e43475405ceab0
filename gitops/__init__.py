"""GitOps release engine: the plain-Python logic behind the Pulumi program.

Nothing in this package registers Pulumi resources except ``program`` (the wiring) and
``offline`` (the in-process mock engine); everything else is pure and tested directly.
"""
