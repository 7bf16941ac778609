/**
 * The escapes from a sandbox namespace's fence that tests/integration/hardened_namespace_test.ts
 * tries as the library's identity: requests its Role's RBAC allows, which
 * deploy/admission-policy.yaml must refuse. Each is a dry run: nothing is persisted.
 */

import type { KubeClient } from "../../src/client/client.ts";
import { corePath, type Pod } from "../../src/client/resources.ts";
import { KubernetesApiError } from "../../src/errors.ts";
import { buildPod } from "../../src/sandbox/cluster/_manifests.ts";
import { resolveSandboxSpec } from "../../src/sandbox/cluster/_spec.ts";
import { SANDBOX_ID_LABEL } from "../../src/_internal/names.ts";

/** The NetworkPolicies of `ns`. */
export const NETPOL = (ns: string): string =>
  `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`;

/** The outcome of a request: "allowed", or the refusal (status code and server message). */
export async function outcome(p: Promise<unknown>): Promise<"allowed" | KubernetesApiError> {
  try {
    await p;
    return "allowed";
  } catch (err) {
    if (err instanceof KubernetesApiError) return err;
    throw err;
  }
}

/** A library pod (as `buildPod` makes it) for sandbox `id`, changed by `edit`. */
export function libraryPod(id: string, namespace: string, edit: (pod: Pod) => void): Pod {
  const pod = buildPod(resolveSandboxSpec({ sandboxId: id }), namespace);
  edit(pod);
  return pod;
}

/** One escape: a request the Role allows and the policy must refuse. */
export interface Escape {
  name: string;
  /** What the policy's message must say about it. */
  says: string;
  /** The request, as a dry run (nothing is persisted). */
  run: (c: KubeClient) => Promise<unknown>;
  /**
   * How the API server itself may refuse it, before any admission policy sees it (a cluster's
   * own setting): then it is refused in both runs, the same way.
   */
  serverMayRefuse?: string;
}

/** Escapes from the sandboxes' fence; `open` is a namespace without PodSecurity or quota. */
export function escapes(open: string, hardened: string, victim: string): Escape[] {
  const dry = { dryRun: "All" };
  const createPod = (edit: (pod: Pod) => void) => (c: KubeClient) =>
    c.request(corePath(open, "pods"), {
      method: "POST",
      query: dry,
      body: libraryPod(`esc${crypto.randomUUID().slice(0, 8)}`, open, edit),
    });
  // deno-lint-ignore no-explicit-any
  const container = (pod: Pod) => (pod.spec as any).containers[0];
  const patchVictim = (contentType: string, body: unknown) => (c: KubeClient) =>
    c.request(corePath(hardened, "pods", victim), {
      method: "PATCH",
      contentType,
      query: dry,
      body,
    });
  const service = (spec: Record<string, unknown>) => (c: KubeClient) =>
    c.request(corePath(open, "services"), {
      method: "POST",
      query: dry,
      body: {
        apiVersion: "v1",
        kind: "Service",
        metadata: {
          name: "orbiter-svc-esc",
          labels: {
            "app.kubernetes.io/managed-by": "orbiter-sandbox-k8s",
            [SANDBOX_ID_LABEL]: "esc",
          },
        },
        spec: { selector: { [SANDBOX_ID_LABEL]: "esc" }, ports: [{ port: 8080 }], ...spec },
      },
    });
  return [
    {
      name: "a privileged pod",
      says: "every container must be unprivileged",
      // kube-apiserver --allow-privileged=false (the local cluster's setting) refuses it in
      // validation, which comes before validating admission.
      serverMayRefuse: "privileged: Forbidden: disallowed by cluster policy",
      run: createPod((pod) => {
        container(pod).securityContext = {
          ...container(pod).securityContext,
          privileged: true,
          allowPrivilegeEscalation: true,
        };
      }),
    },
    {
      name: "a pod adding CAP_SYS_ADMIN",
      says: "every container must be unprivileged",
      run: createPod((pod) => {
        container(pod).securityContext = {
          ...container(pod).securityContext,
          allowPrivilegeEscalation: true,
          capabilities: { add: ["SYS_ADMIN"] },
        };
      }),
    },
    {
      name: "a hostPath pod",
      says: "only emptyDir volumes and the sandbox's own claim are allowed, refused: host",
      run: createPod((pod) => {
        // deno-lint-ignore no-explicit-any
        const spec = pod.spec as any;
        spec.volumes.push({ name: "host", hostPath: { path: "/" } });
        container(pod).volumeMounts.push({ name: "host", mountPath: "/host" });
      }),
    },
    {
      name: "a pod mounting another sandbox's workspace claim",
      says: "only emptyDir volumes and the sandbox's own claim are allowed, refused: theirs",
      run: createPod((pod) => {
        // deno-lint-ignore no-explicit-any
        const spec = pod.spec as any;
        spec.volumes.push({
          name: "theirs",
          persistentVolumeClaim: { claimName: "orbiter-ws-other" },
        });
        container(pod).volumeMounts.push({ name: "theirs", mountPath: "/theirs" });
      }),
    },
    {
      name: "a copy pod mounting a claim that is not the library's",
      says: "refused: from",
      run: createPod((pod) => {
        // deno-lint-ignore no-explicit-any
        const spec = pod.spec as any;
        pod.metadata.name = "orbiter-copy-0123abcd";
        pod.metadata.labels = { ...pod.metadata.labels, "orbiter.dev/copy": "snapshot-x" };
        spec.volumes.push({ name: "from", persistentVolumeClaim: { claimName: "database" } });
        container(pod).volumeMounts.push({ name: "from", mountPath: "/from" });
      }),
    },
    ...([
      ["a claim bound to a chosen volume", { volumeName: "pv-of-someone-else" }],
      ["a claim cloned from another", {
        dataSource: { kind: "PersistentVolumeClaim", name: "database" },
      }],
    ] as const).map(([name, spec]) => ({
      name,
      says: "volumeName, selector, dataSource and dataSourceRef are refused",
      run: (c: KubeClient) =>
        c.request(corePath(open, "persistentvolumeclaims"), {
          method: "POST",
          query: dry,
          body: {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: {
              name: "orbiter-ws-esc",
              labels: {
                "app.kubernetes.io/managed-by": "orbiter-sandbox-k8s",
                [SANDBOX_ID_LABEL]: "esc",
              },
            },
            spec: {
              accessModes: ["ReadWriteOnce"],
              resources: { requests: { storage: "1Gi" } },
              ...spec,
            },
          },
        }),
    })),
    {
      name: "a pod without the library's labels",
      says: "only the sandbox library's objects may be made here",
      run: createPod((pod) => {
        pod.metadata.labels = { app: "mine" };
      }),
    },
    {
      name: "a hostNetwork pod",
      says: "hostNetwork, hostPID and hostIPC are refused",
      // deno-lint-ignore no-explicit-any
      run: createPod((pod) => ((pod.spec as any).hostNetwork = true)),
    },
    {
      name: "a root pod",
      says: "every container must run as non-root",
      run: createPod((pod) => {
        // deno-lint-ignore no-explicit-any
        const spec = pod.spec as any;
        spec.securityContext = { ...spec.securityContext, runAsNonRoot: false, runAsUser: 0 };
        container(pod).securityContext = { ...container(pod).securityContext, runAsNonRoot: false };
      }),
    },
    {
      name: "a pod reading a Secret through its env",
      says: "env from Secrets, ConfigMaps or fields is refused",
      run: createPod((pod) => {
        container(pod).env.push({
          name: "STOLEN",
          valueFrom: { secretKeyRef: { name: "someone-elses", key: "token" } },
        });
      }),
    },
    {
      name: "patching a sandbox pod's image",
      says: "may change its labels only (a claim); refused a change to its spec",
      run: patchVictim("application/json-patch+json", [
        { op: "replace", path: "/spec/containers/0/image", value: "evil.example/image:1" },
      ]),
    },
    {
      name: "patching another label of a sandbox pod",
      says: "refused: changed app.kubernetes.io/name",
      run: patchVictim("application/merge-patch+json", {
        metadata: { labels: { "app.kubernetes.io/name": "frontend" } },
      }),
    },
    {
      name: "adding a label to a sandbox pod without claiming it",
      says: "refused: added role",
      run: patchVictim("application/merge-patch+json", { metadata: { labels: { role: "db" } } }),
    },
    {
      name: "a NodePort Service",
      says: "only type ClusterIP without externalIPs is allowed (got type NodePort",
      run: service({ type: "NodePort" }),
    },
    {
      name: "a ClusterIP Service with externalIPs",
      says: "only type ClusterIP without externalIPs is allowed (got type ClusterIP, 1 externalIPs",
      run: service({ externalIPs: ["203.0.113.7"] }),
    },
    {
      name: "a Service selecting other pods",
      says: "the selector must be exactly orbiter.dev/sandbox-id=esc",
      run: service({ selector: { app: "db" } }),
    },
    {
      name: "a NetworkPolicy selecting every pod",
      says: "the podSelector must be exactly matchLabels orbiter.dev/sandbox-id=esc",
      run: (c) =>
        c.request(NETPOL(open), {
          method: "POST",
          query: dry,
          body: {
            apiVersion: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            metadata: {
              name: "orbiter-sandbox-esc",
              labels: {
                "app.kubernetes.io/managed-by": "orbiter-sandbox-k8s",
                [SANDBOX_ID_LABEL]: "esc",
              },
            },
            spec: {
              podSelector: {},
              policyTypes: ["Ingress", "Egress"],
              ingress: [{}],
              egress: [{}],
            },
          },
        }),
    },
  ];
}
