/**
 * A sandbox's resource use, read from its container's own cgroup (v1 or v2) and its workspace in
 * one command: `sb.metrics()`.
 *
 * @module
 */

export { type MetricsOptions, readMetrics, type SandboxMetrics } from "./_metrics.ts";
