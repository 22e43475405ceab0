"""ComponentResources: each turns plain desired state (``gitops.workloads``) into Kubernetes objects."""
