/**
 * The kubeconfig file's shape (client-go's `clientcmd/api/v1.Config`), field names as they are
 * written in the file. These types describe what {@linkcode parseKubeConfig} returns after it
 * checked every field's type; they say nothing about whether the file is usable (a context may
 * name a cluster that does not exist): that is decided when a context is resolved.
 *
 * @module
 */

/** An entry of a `extensions` list: a name and an arbitrary value. */
export interface KubeConfigNamedExtension {
  /** The extension's name, e.g. `client.authentication.k8s.io/exec`. */
  name: string;
  /** Its value, any JSON. */
  extension: unknown;
}

/** A cluster: where the API server is and how to trust it. */
export interface KubeConfigCluster {
  /** The API server's URL, e.g. `https://127.0.0.1:6443`. Required to use the cluster. */
  server?: string;
  /** The name to verify the server's certificate against, when it differs from the URL's host. */
  "tls-server-name"?: string;
  /** Skip verifying the server's certificate. */
  "insecure-skip-tls-verify"?: boolean;
  /** Path of a PEM file holding the CA bundle; relative to the kubeconfig's folder. */
  "certificate-authority"?: string;
  /** Base64 of the CA bundle's PEM. Wins over `certificate-authority`. */
  "certificate-authority-data"?: string;
  /** An HTTP(S) or SOCKS5 proxy URL. */
  "proxy-url"?: string;
  /** Ask the server not to compress responses. */
  "disable-compression"?: boolean;
  /** Extra information; `client.authentication.k8s.io/exec` is passed to exec plugins. */
  extensions?: KubeConfigNamedExtension[];
}

/** An exec credential plugin, as written in a user's `exec` field. */
export interface KubeConfigExec {
  /** The `ExecCredential` API version the plugin speaks. */
  apiVersion?: string;
  /** The program to run. */
  command: string;
  /** Its arguments. */
  args?: string[];
  /** Extra environment variables. */
  env?: { name: string; value: string }[];
  /** Shown when `command` cannot be found. */
  installHint?: string;
  /** Whether the plugin receives the cluster's details in `KUBERNETES_EXEC_INFO`. */
  provideClusterInfo?: boolean;
  /** `Never`, `IfAvailable` or `Always`. */
  interactiveMode?: "Never" | "IfAvailable" | "Always";
}

/** A legacy, in-tree auth provider (`gcp`, `oidc`, `azure`): recognised only to reject it. */
export interface KubeConfigAuthProvider {
  /** The provider's name. */
  name: string;
  /** Its settings. */
  config?: Record<string, string>;
}

/** A user (client-go's `AuthInfo`): how to authenticate. */
export interface KubeConfigUser {
  /** Path of the client certificate's PEM file; relative to the kubeconfig's folder. */
  "client-certificate"?: string;
  /** Base64 of the client certificate's PEM. Wins over `client-certificate`. */
  "client-certificate-data"?: string;
  /** Path of the client key's PEM file; relative to the kubeconfig's folder. */
  "client-key"?: string;
  /** Base64 of the client key's PEM. Wins over `client-key`. */
  "client-key-data"?: string;
  /** A bearer token. */
  token?: string;
  /** A file holding a bearer token; relative to the kubeconfig's folder. */
  tokenFile?: string;
  /** Basic-auth user name. */
  username?: string;
  /** Basic-auth password. */
  password?: string;
  /** User to impersonate. Not supported: a context that sets it is rejected, not ignored. */
  as?: string;
  /** UID to impersonate. Not supported, as `as`. */
  "as-uid"?: string;
  /** Groups to impersonate. Not supported, as `as`. */
  "as-groups"?: string[];
  /** A legacy auth provider. */
  "auth-provider"?: KubeConfigAuthProvider;
  /** An exec credential plugin. */
  exec?: KubeConfigExec;
  /** Extra information. */
  extensions?: KubeConfigNamedExtension[];
}

/** A context: a cluster, a user and a default namespace. */
export interface KubeConfigContext {
  /** The name of an entry of `clusters`. */
  cluster: string;
  /** The name of an entry of `users`. */
  user: string;
  /** The namespace; `"default"` when unset. */
  namespace?: string;
  /** Extra information. */
  extensions?: KubeConfigNamedExtension[];
}

/** A named cluster, as listed in `clusters`. */
export interface KubeConfigNamedCluster {
  /** The name contexts refer to it by. */
  name: string;
  /** The cluster. */
  cluster: KubeConfigCluster;
}

/** A named user, as listed in `users`. */
export interface KubeConfigNamedUser {
  /** The name contexts refer to it by. */
  name: string;
  /** The user. */
  user: KubeConfigUser;
}

/** A named context, as listed in `contexts`. */
export interface KubeConfigNamedContext {
  /** The name `current-context` and the `context` option refer to it by. */
  name: string;
  /** The context. */
  context: KubeConfigContext;
}

/**
 * A kubeconfig file. {@linkcode parseKubeConfig} always fills in the three lists (empty when the
 * file has none); an object written by hand may leave them out.
 *
 * @example A minimal kubeconfig as an object
 * ```ts
 * import type { KubeConfigFile } from "@orbiter/sandbox-k8s/kubeconfig";
 * const config: KubeConfigFile = {
 *   "current-context": "dev",
 *   clusters: [{ name: "dev", cluster: { server: "https://127.0.0.1:6443" } }],
 *   users: [{ name: "dev", user: { token: "t0ken" } }],
 *   contexts: [{ name: "dev", context: { cluster: "dev", user: "dev" } }],
 * };
 * ```
 */
export interface KubeConfigFile {
  /** `v1`. */
  apiVersion?: string;
  /** `Config`. */
  kind?: string;
  /** The context used when none is asked for. */
  "current-context"?: string;
  /** The clusters. */
  clusters?: KubeConfigNamedCluster[];
  /** The users. */
  users?: KubeConfigNamedUser[];
  /** The contexts. */
  contexts?: KubeConfigNamedContext[];
  /** Extra information. */
  extensions?: KubeConfigNamedExtension[];
}
