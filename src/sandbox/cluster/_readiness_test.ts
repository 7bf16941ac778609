import assert from "node:assert/strict";
import { assessPod } from "./_readiness.ts";
import type { Pod } from "../../client/resources.ts";

const podWith = (status: Pod["status"], deleting = false): Pod => ({
  metadata: { name: "p", ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}) },
  status,
});
Deno.test("assessPod() tells Ready, fatal states and states that get a grace period apart", () => {
  assert.equal(
    assessPod(podWith({ phase: "Running", conditions: [{ type: "Ready", status: "True" }] })).kind,
    "ready",
  );
  const waiting = (reason: string) =>
    podWith({
      phase: "Pending",
      containerStatuses: [{
        name: "sandbox",
        ready: false,
        restartCount: 0,
        state: { waiting: { reason, message: "m" } },
      }],
    });
  for (const fatal of ["InvalidImageName", "CreateContainerConfigError", "CrashLoopBackOff"]) {
    assert.deepEqual(assessPod(waiting(fatal)), { kind: "failed", reason: fatal, message: "m" });
  }
  for (const pull of ["ErrImagePull", "ImagePullBackOff"]) {
    const v = assessPod(waiting(pull));
    assert.equal(v.kind, "waiting");
    assert.equal(v.kind === "waiting" && v.graceReason, "ImagePull");
  }
  const unsched = assessPod(podWith({
    phase: "Pending",
    conditions: [{
      type: "PodScheduled",
      status: "False",
      reason: "Unschedulable",
      message: "0/1 nodes",
    }],
  }));
  assert.equal(unsched.kind === "waiting" && unsched.graceReason, "Unschedulable");
  assert.equal(
    assessPod(podWith({ phase: "Failed", reason: "DeadlineExceeded", message: "x" })).kind,
    "failed",
  );
  assert.equal(assessPod(podWith({ phase: "Pending" }, true)).kind, "failed");
  assert.equal(assessPod(podWith({ phase: "Pending" })).kind, "waiting");
});
