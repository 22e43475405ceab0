"""The end-to-end tier's "untouched" check (``tests.e2e.world.object_state``) must ignore what controllers
write on their own (status, an HPA's replica count) and still see any write of ours."""

from __future__ import annotations

import copy
from typing import Any

from tests.e2e.world import object_state


def deployment() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "api",
            "uid": "u-1",
            "resourceVersion": "325",
            "generation": 1,
            "labels": {"app": "api"},
            "managedFields": [
                {"manager": "pulumi-kubernetes", "operation": "Apply", "time": "2026-12-04T04:00:00Z"},
                {"manager": "kube-controller-manager", "subresource": "status", "time": "2026-12-04T04:00:01Z"},
            ],
        },
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": "registry/api@sha256:1"}]}}},
        "status": {"readyReplicas": 1},
    }


def test_status_updates_and_an_hpa_scaling_leave_the_state_alone() -> None:
    before = deployment()
    after = copy.deepcopy(before)
    after["status"] = {"readyReplicas": 2}
    after["spec"]["replicas"] = 2
    after["metadata"].update(resourceVersion="349", generation=2)
    after["metadata"]["managedFields"][1]["time"] = "2026-12-04T04:00:30Z"
    after["metadata"]["managedFields"].append(
        {"manager": "kube-controller-manager", "subresource": "scale", "time": "2026-12-04T04:00:30Z"}
    )
    assert object_state("Deployment", after) == object_state("Deployment", before)


def test_any_write_of_ours_or_a_replacement_changes_the_state() -> None:
    before = object_state("Deployment", deployment())
    new_image, new_label, our_write, replaced = (deployment() for _ in range(4))
    new_image["spec"]["template"]["spec"]["containers"][0]["image"] = "registry/api@sha256:2"
    new_label["metadata"]["labels"]["app"] = "other"
    our_write["metadata"]["managedFields"][0]["time"] = "2026-12-04T04:05:00Z"
    replaced["metadata"]["uid"] = "u-2"
    for changed in (new_image, new_label, our_write, replaced):
        assert object_state("Deployment", changed) != before
