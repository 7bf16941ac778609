/** parseKubeConfig() and validateKubeConfig(): bad input is a KubeconfigError naming the field, and scalars stay strings. */

import assert from "node:assert/strict";
import { parseKubeConfig, validateKubeConfig } from "./parse.ts";
import { CA_B64, kubeconfigErrorSync } from "../../tests/_kubeconfig.ts";

Deno.test("parseKubeConfig() never lets bad input surface as a bare TypeError", () => {
  const bad: [string, string | undefined][] = [
    ["- just\n- a list\n", undefined],
    ["42", undefined],
    ["just a string", undefined],
    ["clusters: x", "clusters"],
    ["clusters: [null]", "clusters[0].name"],
    ["clusters: [[1]]", "clusters[0]"],
    ["clusters: [{cluster: {server: x}}]", "clusters[0].name"],
    ["clusters: [{name: a, cluster: [1]}]", "clusters[0].cluster"],
    ["clusters: [{name: a, cluster: {server: {a: 1}}}]", "clusters[0].cluster.server"],
    ["clusters: [{name: a, cluster: {insecure-skip-tls-verify: maybe}}]", undefined],
    ["clusters: [{name: a}, {name: a}]", "clusters[1].name"],
    ["users: [{name: u, user: hello}]", "users[0].user"],
    ["users: [{name: u, user: {exec: []}}]", "users[0].user.exec"],
    ["users: [{name: u, user: {exec: {command: x, args: a}}}]", "users[0].user.exec.args"],
    ["users: [{name: u, user: {exec: {command: x, env: [{value: 1}]}}}]", undefined],
    ["users: [{name: u, user: {exec: {args: [a]}}}]", "users[0].user.exec.command"],
    ["users: [{name: u, user: {exec: {command: x, interactiveMode: Sometimes}}}]", undefined],
    ["users: [{name: u, user: {auth-provider: {name: gcp, config: [1]}}}]", undefined],
    ["contexts: {a: b}", "contexts"],
    ["contexts: [{name: c, context: {cluster: [a]}}]", "contexts[0].context.cluster"],
    ["current-context: [a]", "current-context"],
    ["extensions: [1]", "extensions[0]"],
    ['{"clusters": 1}', "clusters"],
  ];
  for (const [text, field] of bad) {
    const error = kubeconfigErrorSync(() => parseKubeConfig(text, "f.yaml"));
    assert.equal(error.file, "f.yaml", text);
    if (field !== undefined) assert.equal(error.field, field, `${text}: ${error.message}`);
  }
  kubeconfigErrorSync(() => validateKubeConfig(null));
  kubeconfigErrorSync(() => validateKubeConfig("text"));
  kubeconfigErrorSync(() => parseKubeConfig(undefined as unknown as string));
});

Deno.test("parseKubeConfig() keeps certificate data and scalar values as strings", () => {
  const config = parseKubeConfig(`
clusters:
- name: 2024-01-01
  cluster:
    server: https://x
    certificate-authority-data: ${CA_B64}
users:
- name: 007
  user: {token: 12345, username: yes, password: null}
contexts: []
`);
  assert.equal(config.clusters?.[0].name, "2024-01-01");
  assert.equal(config.clusters?.[0].cluster["certificate-authority-data"], CA_B64);
  assert.equal(typeof config.users?.[0].name, "string");
  assert.equal(config.users?.[0].user.token, "12345");
  assert.equal(config.users?.[0].user.username, "yes");
  assert.equal(config.users?.[0].user.password, undefined);
});
