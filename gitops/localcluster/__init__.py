"""Local Kubernetes clusters on loopback for the real engine: the end-to-end tests and ``./dev cluster``.

Built from the pinned Go modules in ``tools/go`` (``tools.py``); one etcd, and per cluster an API server
(TLS, RBAC, Pod Security admission), a controller manager, a scheduler and kwok, which plays the
kubelet for a fake node (``cluster.py``).
"""
