/**
 * Reaching servers inside a sandbox through `pods/portforward`: `fetch` (an HTTP/1.1 client
 * over the forwarded stream, with kept-alive connections) and local listeners that forward.
 *
 * @module
 */

export {
  type ForwardPortOptions,
  PortAccess,
  type PortForward,
  type SandboxFetchInit,
  type SandboxPorts,
} from "./_ports.ts";
export type { WaitForPortOptions } from "./_wait_for.ts";
