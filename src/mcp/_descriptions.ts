/**
 * What the model is told about a sandbox, written from the server's real settings: the network
 * levels (and that they hold only where the cluster enforces NetworkPolicy), the images it may
 * run, the caps and the number of sandboxes. Nothing here claims what the cluster may not do.
 *
 * @module
 */

import type { Fences } from "./_fences.ts";

/** The settings every session of a server shares, checked; the descriptions say them. */
export interface ServerSettings {
  /** The operator's fences. */
  fences: Fences;
  /** Most sandboxes the server holds at once. */
  maxSandboxes: number;
  /** Default and largest lifetime of a sandbox, seconds. */
  ttlSeconds: number;
  /** Seconds `sandbox_create` waits by default. */
  createWaitSeconds: number;
  /** The default image (the first allowed one when there is an allow-list). */
  image?: string;
}

const EGRESS: Record<string, string> = {
  none: "may open no connection at all (no internet, no DNS)",
  internet: "may reach public internet addresses and the cluster's DNS, but no private, " +
    "link-local or loopback address: neither the cluster's pods and services nor a cloud " +
    "metadata endpoint",
  all: "is not restricted by this server: it reaches whatever the cluster's network reaches",
};

const INGRESS: Record<string, string> = {
  none: "no other pod may connect to it (reach servers in it with sandbox_fetch, which goes " +
    "through the Kubernetes API)",
  all: "any pod of the cluster may connect to servers in it",
};

/** The network paragraph: levels, and where they hold. */
export function describeNetwork(fences: Fences): string {
  const egress = fences.egress ?? "internet";
  const ingress = fences.ingress ?? "none";
  const lead = `Network: outbound, the sandbox ${EGRESS[egress]}; inbound, ${INGRESS[ingress]}.`;
  if (egress === "all" && ingress === "all") {
    return `${lead} This server applies no NetworkPolicy to its sandboxes.`;
  }
  return `${lead} These rules are a Kubernetes NetworkPolicy, which holds only where the ` +
    `cluster's network plugin enforces NetworkPolicy: the result's isolation field says ` +
    `"enforced" (checked), "not-enforced" (the cluster ignores it: treat the network as open) ` +
    `or "unknown" (not checked yet; sandbox_list shows it later).`;
}

/** The images paragraph. */
function describeImages(fences: Fences, defaultImage: string | undefined): string {
  if (fences.allowImages) {
    return `Images: only ${fences.allowImages.join(", ")} (any other is refused); default ` +
      `${defaultImage ?? fences.allowImages[0]}.`;
  }
  return `Images: any image the cluster can pull; default ${defaultImage ?? "python:3.11-slim"}.`;
}

/** The resources paragraph. */
function describeCaps(fences: Fences): string {
  const caps = Object.entries(fences.caps);
  if (!caps.length) return "";
  return ` Resource caps (a larger limit or request is refused; without a limit the cap is ` +
    `the limit): ${caps.map(([k, v]) => `${k} ${v}`).join(", ")}.`;
}

/** `sandbox_create`'s description. */
export function describeCreate(settings: ServerSettings): string {
  const { fences } = settings;
  return "Start a new Linux sandbox (a Kubernetes pod) and return its sandboxId, which every " +
    "other sandbox_* tool takes. Starting takes a few seconds, longer when the image must be " +
    `pulled (progress is reported; by default the call waits ${settings.createWaitSeconds} s, ` +
    "pass timeoutSeconds to wait longer). It runs as a non-root user with a read-only root " +
    "filesystem (write to /home/sandbox, /tmp or a workspace directory), and is deleted when " +
    "this session ends, when sandbox_delete is called, or after its ttlSeconds (at most " +
    `${settings.ttlSeconds}). This server holds at most ${settings.maxSandboxes} sandbox(es) ` +
    "at once: reuse one sandbox for related work. " +
    `${describeNetwork(fences)} ${describeImages(fences, settings.image)}${describeCaps(fences)}`;
}

/** The server's instructions (sent once, at initialization). */
export function describeServer(settings: ServerSettings): string {
  return "Linux sandboxes on Kubernetes for running code. Create one with sandbox_create, keep " +
    "its sandboxId, then run commands with sandbox_exec and move files with " +
    "sandbox_read_file / sandbox_write_file / sandbox_list_files. Reuse a sandbox for related " +
    "steps; delete it with sandbox_delete when done. Every sandbox this session creates is " +
    `deleted when the session ends. ${describeNetwork(settings.fences)}`;
}
