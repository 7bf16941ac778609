/**
 * `sb.network`: what a running sandbox may reach and who may reach it, and whether the cluster
 * enforces it.
 *
 * @module
 */

import type { EgressPolicy, IngressPolicy } from "../options.ts";
import type { IsolationReport, IsolationStatus } from "./_isolation.ts";

/** The network of a sandbox: `sb.network`. */
export interface SandboxNetwork {
  /**
   * Whether the sandbox's NetworkPolicy is enforced, as the isolation check found: `"enforced"`
   * (a connection the policy forbids failed while an allowed one on the same path worked),
   * `"not-enforced"` (the forbidden connection went through: the cluster's network plugin
   * ignores NetworkPolicy) or `"unknown"` (not checked yet, or the check could not tell). The
   * check runs once, in the background, after `start()`; `checkIsolation()` waits for it.
   */
  readonly isolation: IsolationStatus;
  /**
   * The isolation check's result (see {@linkcode SandboxNetwork.isolation}): one exec in the
   * sandbox, started by `start()` and shared by every caller; a sandbox found by `connect()` is
   * checked on the first call. A sandbox without a policy (`egress` and `ingress` both `"all"`)
   * is `"not-enforced"` without a check. The verdict is also recorded as an Event on the pod
   * (when the Role may create events).
   */
  checkIsolation(options?: { signal?: AbortSignal }): Promise<IsolationReport>;
  /**
   * Changes what the running sandbox may reach (see the `egress` option): replaces the egress
   * rules of its NetworkPolicy, or creates one owned by its pod. Needs `patch` and `create` on
   * `networkpolicies`; takes effect where the cluster's network plugin enforces NetworkPolicy.
   *
   * @throws {InvalidOptionError} a malformed policy (before any request).
   * @throws {IsolationError} reason `Forbidden`: the Role may not write NetworkPolicies.
   * @throws {KubernetesApiError} the server refused otherwise.
   */
  setEgress(policy: EgressPolicy, options?: { signal?: AbortSignal }): Promise<void>;
  /**
   * Changes who may connect to the running sandbox (see the `ingress` option), as
   * {@linkcode SandboxNetwork.setEgress} does for egress.
   *
   * @throws {InvalidOptionError} a malformed policy (before any request).
   * @throws {IsolationError} reason `Forbidden`: the Role may not write NetworkPolicies.
   */
  setIngress(policy: IngressPolicy, options?: { signal?: AbortSignal }): Promise<void>;
}
