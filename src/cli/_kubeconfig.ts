/**
 * The CLI's connection: the library's loading rules (`loadKubeConfig`), with the failure a new
 * user meets first, no kubeconfig anywhere, told in the CLI's terms (`--kubeconfig`, `--context`,
 * `KUBECONFIG`) rather than the library's options. What was looked at is seen through the
 * loader's own `env` and `readTextFile` hooks, never read back out of its message.
 *
 * @module
 */

import { type ConnectionConfig, KubeconfigError, loadKubeConfig } from "../../mod.ts";
import { envValue } from "../_internal/env.ts";

/** The flags that choose the kubeconfig. */
export interface KubeconfigFlags {
  /** `--kubeconfig`: path(s), `:`-separated. */
  kubeconfig?: string;
  /** `--context`. */
  context?: string;
}

/** Where the kubeconfig is looked for (tests replace them). */
export interface KubeconfigSources {
  /** An environment variable, `undefined` when unset. Default: the process's. */
  env?: (name: string) => string | undefined;
  /** Reads a file; throws `Deno.errors.NotFound` for a missing one. Default: `Deno.readTextFile`. */
  readTextFile?: (path: string) => Promise<string>;
}

/**
 * Loads the connection as the library does (`--kubeconfig`, else `KUBECONFIG`, else
 * `~/.kube/config`, else the pod's service account).
 *
 * @throws {KubeconfigError} the library's, except that "none found" names the CLI's flags.
 */
export async function loadCliKubeConfig(
  flags: KubeconfigFlags,
  sources: KubeconfigSources = {},
): Promise<ConnectionConfig> {
  const denied = new Set<string>();
  const getEnv = sources.env ?? ((name: string) => envValue(name, denied));
  const read = sources.readTextFile ?? Deno.readTextFile;
  const missing: string[] = [];
  let readAny = false;
  let inPod: boolean | undefined;
  try {
    return await loadKubeConfig({
      kubeconfig: flags.kubeconfig,
      context: flags.context,
      env: {
        get(name) {
          const value = getEnv(name);
          if (name === "KUBERNETES_SERVICE_HOST") inPod = Boolean(value);
          return value;
        },
      },
      async readTextFile(path) {
        try {
          const text = await read(path);
          readAny = true;
          return text;
        } catch (err) {
          if (err instanceof Deno.errors.NotFound) missing.push(path);
          throw err;
        }
      },
    });
  } catch (err) {
    // No file at fault, none read, and not in a pod: nothing was found where the library looked.
    if (
      !(err instanceof KubeconfigError) || err.file !== undefined || readAny || inPod !== false
    ) {
      throw err;
    }
    const tried = missing.length
      ? `${missing.join(", ")} not found`
      : "no file to look at: KUBECONFIG and HOME are unset";
    const hidden = denied.size
      ? `; Deno's permissions hid ${[...denied].join(", ")} (run with --allow-env)`
      : "";
    throw new KubeconfigError(
      `no kubeconfig found (${tried}, and not in a pod: KUBERNETES_SERVICE_HOST is unset` +
        `${hidden}). Give one with --kubeconfig PATH (and --context NAME for a context other ` +
        "than its current one), or set KUBECONFIG",
      { cause: err },
    );
  }
}
