/**
 * A sandbox's network: its NetworkPolicy (both directions, owned by its pod) and the check
 * that the cluster enforces it.
 *
 * @module
 */

export {
  checkIsolation,
  exposedAddresses,
  forbidsProbeBothWays,
  isolationFailure,
  type IsolationReport,
  type IsolationStatus,
  recordIsolationEvent,
} from "./_isolation.ts";
export {
  buildPolicy,
  egressRules,
  ingressRules,
  networkPolicies,
  type NetworkPolicy,
  policyForbidden,
  policyName,
  type PolicyRules,
  PROBE_CLOSED_PORT,
  PROBE_OPEN_PORT,
  resolveIsolation,
  setPolicyRules,
} from "./_network_policy.ts";
export type { SandboxNetwork } from "./_network.ts";
