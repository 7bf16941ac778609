/**
 * Environment variables, read the one way the whole library reads them, and the namespace rule
 * every entry point follows: the caller's choice, else `ORBITER_K8S_NAMESPACE`, else the
 * kubeconfig context's, else `default`.
 *
 * @module
 */

import { validateNamespace } from "./validate.ts";

/**
 * `Deno.env.get(name)`, except that a variable Deno's permissions forbid reading counts as unset
 * (its name is added to `denied`, so a later "nothing found" error can say why): a program run
 * with `--allow-env=KUBECONFIG` must not fail on an optional variable.
 */
export function envValue(name: string, denied?: Set<string>): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      denied?.add(name);
      return undefined;
    }
    throw error;
  }
}

/** An environment variable; unset, empty or not readable are all `undefined`. */
export function readEnv(name: string): string | undefined {
  return envValue(name) || undefined;
}

/** The variable that names the default namespace. */
export const NAMESPACE_ENV = "ORBITER_K8S_NAMESPACE";

/**
 * The namespace the caller chose: `option`, else `ORBITER_K8S_NAMESPACE`, checked (an error names
 * the variable when the value came from it); `undefined` when neither is set, and the
 * connection's then applies.
 *
 * @throws {InvalidOptionError} the name is not a valid namespace.
 */
export function chosenNamespace(
  option: string | undefined,
  env: (name: string) => string | undefined = readEnv,
): string | undefined {
  if (option !== undefined) return validateNamespace(option);
  const fromEnv = env(NAMESPACE_ENV);
  return fromEnv === undefined ? undefined : validateNamespace(fromEnv, NAMESPACE_ENV);
}

/**
 * The namespace to work in: {@linkcode chosenNamespace}, else the connection's (its kubeconfig
 * context's), else `default`.
 */
export function resolveNamespace(
  option: string | undefined,
  connectionNamespace: string | undefined,
): string {
  return chosenNamespace(option) ?? connectionNamespace ?? "default";
}
