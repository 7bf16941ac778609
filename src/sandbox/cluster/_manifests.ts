/**
 * The Pod and Service of a sandbox. The pod passes the PodSecurity `restricted` profile and still
 * runs images that expect root (such as `python:3.11-slim`): it runs as a non-root user with a
 * read-only root filesystem and writable `emptyDir`s for `/tmp`, `HOME` and every workspace (or,
 * for a persistent sandbox, one PersistentVolumeClaim holding every workspace directory).
 *
 * @module
 */

import type { Pod, Service } from "../../client/resources.ts";
import {
  CONFIG_DIR,
  CONTAINER_NAME,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  OPTIONS_ANNOTATION,
  podNameFor,
  PRIVATE_DIR,
  SANDBOX_HOME,
  SANDBOX_ID_LABEL,
  serviceNameFor,
} from "../../_internal/names.ts";
import { PROBE_CLOSED_PORT, PROBE_OPEN_PORT } from "../network/mod.ts";
import type { SandboxSpec } from "./_spec.ts";
import { idleKeepAliveScript, KEEP_ALIVE_SCRIPT } from "./_idle.ts";
import { claimNameFor } from "./_volume.ts";

/** The options a pod records for `connect()` in its {@linkcode OPTIONS_ANNOTATION}. */
export interface RecoveredOptions {
  /** The workspace directories. */
  workspace: string[];
  /** The sandbox's `timeout`, seconds. */
  timeout: number;
}

/**
 * PID 1 of the sandbox: sleeps until told to stop (or, with `idleTimeout`, until idle: see
 * ./_idle.ts). A shell as PID 1 gets no default signal handlers, so the trap is what makes
 * SIGTERM end it at once instead of after the grace period.
 */
export { KEEP_ALIVE_SCRIPT };

/**
 * The security context of every container the library runs (the sandbox's, a copy pod's): the
 * PodSecurity `restricted` profile, with a read-only root filesystem. A fresh object each time:
 * a manifest is the caller's to change.
 */
export function restrictedContainer(): Record<string, unknown> {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

function baseLabels(spec: SandboxSpec): Record<string, string> {
  return {
    ...spec.labels,
    "app.kubernetes.io/name": "orbiter-sandbox",
    [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
    [SANDBOX_ID_LABEL]: spec.sandboxId,
  };
}

/** Builds the sandbox's Pod. */
export function buildPod(spec: SandboxSpec, namespace: string): Pod {
  // Disk-backed volumes are bounded too: the kubelet evicts a sandbox that writes past them.
  const disk = { sizeLimit: spec.diskSizeLimit };
  const volumes: Record<string, unknown>[] = [
    { name: "tmp", emptyDir: disk },
    { name: "home", emptyDir: disk },
    // Late-bound env and files (secrets among them), the command channel's input and output,
    // and detached processes' logs: memory only,
    // never the node's disk; counted in the container's memory, and bounded.
    { name: "private", emptyDir: { medium: "Memory", sizeLimit: "256Mi" } },
  ];
  const mounts: Record<string, unknown>[] = [
    { name: "tmp", mountPath: "/tmp" },
    { name: "home", mountPath: SANDBOX_HOME },
    { name: "private", mountPath: PRIVATE_DIR },
  ];
  if (spec.persistent) {
    // One claim for every workspace directory, each in a folder of its own (`ws-0`, `ws-1`...).
    volumes.push({
      name: "workspace",
      persistentVolumeClaim: { claimName: claimNameFor(spec.sandboxId) },
    });
    spec.workspace.forEach((path, i) => {
      mounts.push({ name: "workspace", mountPath: path, subPath: `ws-${i}` });
    });
  } else {
    spec.workspace.forEach((path, i) => {
      volumes.push({ name: `workspace-${i}`, emptyDir: disk });
      mounts.push({ name: `workspace-${i}`, mountPath: path });
    });
  }
  const env = [
    { name: "HOME", value: SANDBOX_HOME },
    { name: "TMPDIR", value: "/tmp" },
    { name: "ORBITER_SANDBOX_ID", value: spec.sandboxId },
    { name: "ORBITER_CONFIG_DIR", value: CONFIG_DIR },
    ...(spec.workspace.length
      ? [{ name: "ORBITER_WORKSPACE", value: spec.workspace.join(":") }]
      : []),
    ...Object.entries(spec.env).map(([name, value]) => ({ name, value })),
  ];
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: podNameFor(spec.sandboxId),
      namespace,
      labels: baseLabels(spec),
      annotations: {
        ...spec.annotations,
        // What connect() recovers beyond the pod spec (never a secret).
        [OPTIONS_ANNOTATION]: JSON.stringify(
          {
            workspace: spec.workspace,
            timeout: spec.timeout,
          } satisfies RecoveredOptions,
        ),
      },
    },
    spec: {
      restartPolicy: "Never",
      activeDeadlineSeconds: spec.ttlSeconds,
      terminationGracePeriodSeconds: 2,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(spec.serviceAccountName ? { serviceAccountName: spec.serviceAccountName } : {}),
      ...(spec.runtimeClassName ? { runtimeClassName: spec.runtimeClassName } : {}),
      ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
      ...(spec.pinNode ? { affinity: nodeAffinity(spec.pinNode) } : {}),
      ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
      ...(spec.imagePullSecrets?.length
        ? { imagePullSecrets: spec.imagePullSecrets.map((name) => ({ name })) }
        : {}),
      securityContext: {
        runAsNonRoot: true,
        runAsUser: spec.runAsUser,
        runAsGroup: spec.runAsUser,
        fsGroup: spec.runAsUser,
        seccompProfile: { type: "RuntimeDefault" },
      },
      volumes,
      containers: [{
        name: CONTAINER_NAME,
        image: spec.image,
        ...(spec.imagePullPolicy ? { imagePullPolicy: spec.imagePullPolicy } : {}),
        command: [
          "/bin/sh",
          "-c",
          spec.idleTimeout
            ? idleKeepAliveScript(spec.idleTimeout, spec.idleCountsProcesses)
            : KEEP_ALIVE_SCRIPT,
        ],
        workingDir: spec.workspace[0] ?? SANDBOX_HOME,
        env,
        ports: spec.ports.map((p) => ({
          name: p.name,
          containerPort: p.targetPort,
          protocol: p.protocol,
        })),
        resources: spec.resources,
        volumeMounts: mounts,
        securityContext: restrictedContainer(),
      }],
    },
  } as Pod;
}

/**
 * Builds the sandbox's Service, owned by the pod (uid `podUid`) so the garbage collector removes
 * it with the pod even when the client died before it could.
 */
export function buildService(spec: SandboxSpec, namespace: string, podUid: string): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: serviceNameFor(spec.sandboxId),
      namespace,
      labels: baseLabels(spec),
      annotations: { ...spec.annotations },
      // No blockOwnerDeletion: setting it needs `update` on pods/finalizers, which the
      // least-privilege Role does not grant, and background deletion does not need it.
      ownerReferences: [{
        apiVersion: "v1",
        kind: "Pod",
        name: podNameFor(spec.sandboxId),
        uid: podUid,
      }],
    },
    spec: {
      type: "ClusterIP",
      selector: { [SANDBOX_ID_LABEL]: spec.sandboxId },
      ports: [
        ...spec.ports.map((p) => ({
          name: p.name,
          port: p.port,
          targetPort: p.targetPort,
          protocol: p.protocol,
        })),
        // The isolation check's: the pod reaches itself through them, one allowed by its policy
        // and one not (see _isolation.ts). Nothing listens on them but the check.
        ...[PROBE_OPEN_PORT, PROBE_CLOSED_PORT].map((port, i) => ({
          name: i === 0 ? "orbiter-probe-a" : "orbiter-probe-b",
          port,
          targetPort: port,
          protocol: "TCP",
        })),
      ],
    },
  } as Service;
}

/** An affinity that puts a pod on node `name`, through the scheduler (so claims still bind). */
export function nodeAffinity(name: string): Record<string, unknown> {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{
          matchFields: [{ key: "metadata.name", operator: "In", values: [name] }],
        }],
      },
    },
  };
}
