/**
 * What each sandbox holds on the cluster, readable by the other modules of the library (the pool
 * claims a sandbox by its pod's `resourceVersion`) without a public member.
 *
 * @module
 */

import type { Pod, Service } from "../../client/resources.ts";
import type { NetworkPolicy } from "../network/_network_policy.ts";

/**
 * What a sandbox holds on the cluster. Creating it fills this in as objects are created, and
 * leaves in it what could not be deleted, so that a later cleanup tries again.
 */
export interface HeldResources {
  /** The pod, once created (as last seen). */
  pod?: Pod;
  /** The service, once created. */
  service?: Service;
  /** The network policy, once created (owned by the pod, so it also goes with it). */
  policy?: NetworkPolicy;
}

/** Each sandbox's {@linkcode HeldResources}, by sandbox object. */
export const heldBy: WeakMap<object, HeldResources> = new WeakMap();
