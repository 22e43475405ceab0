"""ComponentResources: each turns plain desired state (``gitops.core.workloads``) into Kubernetes objects."""
