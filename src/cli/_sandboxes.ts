/**
 * The commands about whole sandboxes: `create`, `list`, `reap` and `delete`.
 *
 * @module
 */

import {
  KubernetesSandbox,
  type KubernetesSandboxOptions,
  type ResourceRequirements,
  type SandboxInfo,
  SandboxPausedError,
} from "../../mod.ts";
import { SANDBOX_ID_LABEL } from "../_internal/names.ts";
import {
  checkSandboxId,
  parseDuration,
  parseEnv,
  parseInteger,
  parsePairs,
  parseTimeout,
  UsageError,
} from "./_args.ts";
import { safeJson } from "./_escape.ts";
import type { CommandContext } from "./_context.ts";
import { PROGRAM } from "./_help.ts";
import { formatAge, formatTable } from "./_table.ts";

/** How long removing a sandbox whose start failed or was interrupted may take. */
const CLEANUP_MS = 30_000;

/**
 * `create`: starts a sandbox, lets go of it (it keeps running until its ttl, or until deleted),
 * and prints its id.
 */
export async function create(ctx: CommandContext): Promise<number> {
  ctx.positionals();
  const options = createOptions(ctx);
  // Validates every option (InvalidOptionError: exit 2) before the kubeconfig is read.
  const sb = new KubernetesSandbox(options);
  const started = performance.now();
  ctx.progress.update(`starting sandbox ${sb.sandboxId} (image ${sb.image})…`, true);
  try {
    await sb.start({ signal: ctx.signal });
  } catch (err) {
    ctx.progress.done();
    // start() removed what it created, or is still removing it after an abort: cleanup() waits
    // for that (and retries what is left) before the process may exit.
    await sb.cleanup({ signal: AbortSignal.timeout(CLEANUP_MS) }).catch((cleanupErr) =>
      ctx.note(
        `${PROGRAM}: removing sandbox ${sb.sandboxId} failed too: ${
          (cleanupErr as Error)?.message ?? cleanupErr
        } (\`${PROGRAM} delete ${sb.sandboxId}\` tries again)`,
      )
    );
    throw err;
  }
  const description = sb.describe();
  const ttl = options.ttlSeconds ?? 3600;
  // Lets go without deleting: the pod keeps running after this process exits.
  await sb.disconnect();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  ctx.progress.done(
    `sandbox ${sb.sandboxId} ready in ${seconds} s (pod ${description.podName} in namespace ` +
      `${description.namespace}); it runs for ${formatAge(ttl)} at most: ` +
      `\`${PROGRAM} delete ${sb.sandboxId}\` when done`,
  );
  ctx.out(
    ctx.bool("json") ? `${safeJson(description)}\n` : `${sb.sandboxId}\n`,
  );
  return 0;
}

/** The sandbox's options from `create`'s flags (checked as far as the CLI can). */
function createOptions(ctx: CommandContext): KubernetesSandboxOptions {
  const resources: ResourceRequirements = {};
  const limits = { cpu: ctx.flag("cpu"), memory: ctx.flag("memory") };
  const requests = { cpu: ctx.flag("cpu-request"), memory: ctx.flag("memory-request") };
  if (limits.cpu || limits.memory) resources.limits = defined(limits);
  if (requests.cpu || requests.memory) resources.requests = defined(requests);
  const egress = ctx.flag("egress");
  if (egress !== undefined && !["none", "internet", "all"].includes(egress)) {
    throw new UsageError(`--egress must be none, internet or all, not "${egress}"`, "create");
  }
  const ingress = ctx.flag("ingress");
  if (ingress !== undefined && ingress !== "none" && ingress !== "all") {
    throw new UsageError(`--ingress must be none or all, not "${ingress}"`, "create");
  }
  const id = ctx.flag("id");
  const ttl = ctx.flag("ttl");
  const timeout = ctx.flag("timeout");
  const persistent = ctx.flag("persistent");
  const idle = ctx.flag("idle-timeout");
  const ports = ctx.list("port").map((p) => ({ port: parseInteger("port", p, 1, 65535) }));
  return defined({
    kubeconfig: ctx.flag("kubeconfig"),
    context: ctx.flag("context"),
    namespace: ctx.namespaceFlag(),
    sandboxId: id === undefined ? undefined : checkSandboxId(id, "create"),
    image: ctx.flag("image"),
    ttlSeconds: ttl === undefined ? undefined : Math.ceil(parseDuration("ttl", ttl)),
    persistent: persistent === undefined ? undefined : { size: persistent },
    idleTimeout: idle === undefined ? undefined : Math.ceil(parseDuration("idle-timeout", idle)),
    timeout: timeout === undefined ? undefined : parseTimeout("timeout", timeout),
    env: ctx.list("env").length ? parseEnv("env", ctx.list("env")) : undefined,
    labels: ctx.list("label").length ? parsePairs("label", ctx.list("label")) : undefined,
    workspace: ctx.list("workspace").length ? ctx.list("workspace") : undefined,
    resources: resources.limits || resources.requests ? resources : undefined,
    ports: ports.length ? ports : undefined,
    runtimeClassName: ctx.flag("runtime-class"),
    egress,
    ingress,
    requireIsolation: ctx.flag("require-isolation") ? true : undefined,
    // One CLI run, no commands: no channel to open.
    commandChannel: false,
  }) as KubernetesSandboxOptions;
}

/** `record` without its `undefined` fields. */
function defined<T extends Record<string, unknown>>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as T;
}

/** `list`: the sandboxes in the namespace, as a table or JSON. */
export async function list(ctx: CommandContext): Promise<number> {
  ctx.positionals();
  const { connection, namespace } = await ctx.cluster();
  const found = await KubernetesSandbox.list({
    connection,
    namespace,
    labelSelector: ctx.flag("selector"),
    signal: ctx.signal,
  });
  printSandboxes(ctx, found, `no sandboxes in namespace ${namespace}`);
  return 0;
}

/** `reap`: deletes the sandboxes at least `--older-than` old (or all, with `--all`). */
export async function reap(ctx: CommandContext): Promise<number> {
  ctx.positionals();
  const olderThanFlag = ctx.flag("older-than");
  const all = ctx.bool("all");
  if ((olderThanFlag === undefined) === !all) {
    throw new UsageError(
      all ? "give --older-than or --all, not both" : "give --older-than DURATION, or --all",
      "reap",
    );
  }
  const olderThan = olderThanFlag === undefined
    ? 0
    : parseDuration("older-than", olderThanFlag, true);
  const { connection, namespace } = await ctx.cluster();
  const dryRun = ctx.bool("dry-run");
  const removed = await KubernetesSandbox.reap({
    connection,
    namespace,
    olderThan,
    dryRun,
    labelSelector: ctx.flag("selector"),
    paused: ctx.bool("paused") ? "all" : "expired",
    signal: ctx.signal,
  });
  printSandboxes(ctx, removed, `nothing to reap in namespace ${namespace}`);
  if (removed.length) {
    ctx.info(`${dryRun ? "would delete" : "deleted"} ${removed.length} sandbox(es)`);
  }
  return 0;
}

/** `delete`: removes each sandbox's pod and service, whatever their state. */
export async function remove(ctx: CommandContext): Promise<number> {
  const ids = ctx.positionals("ID...").map((id) => checkSandboxId(id, "delete"));
  const { connection, namespace } = await ctx.cluster();
  const missing: string[] = [];
  for (const id of new Set(ids)) {
    // reap() by the id's label deletes a sandbox in any state: connect() + cleanup() would
    // refuse one that is not Ready, such as one stopped by its ttl.
    const removed = await KubernetesSandbox.reap({
      connection,
      namespace,
      labelSelector: `${SANDBOX_ID_LABEL}=${id}`,
      // A paused sandbox too, with its workspace: deleting it by id means so.
      paused: "all",
      signal: ctx.signal,
    });
    if (removed.length) ctx.info(`deleted sandbox ${id}`);
    else missing.push(id);
  }
  if (missing.length) {
    ctx.note(
      `${PROGRAM}: no sandbox ${missing.join(", ")} in namespace ${namespace} ` +
        `(\`${PROGRAM} list\` shows what exists)`,
    );
    return 1;
  }
  return 0;
}

function printSandboxes(ctx: CommandContext, found: SandboxInfo[], empty: string): void {
  if (ctx.bool("json")) {
    ctx.out(`${safeJson(found)}\n`);
    return;
  }
  if (!found.length) {
    ctx.info(empty);
    return;
  }
  ctx.out(formatTable(
    ["ID", "STATUS", "READY", "AGE", "POOL", "CLUSTER-IP", "POD"],
    found.map((s) => [
      s.sandboxId,
      s.status,
      s.ready ? "yes" : "no",
      formatAge(s.ageSeconds),
      s.pool ? `${s.pool}${s.idle ? " (idle)" : ""}` : "-",
      s.clusterIp ?? "-",
      s.podName ?? "-",
    ]),
  ));
}

/** `pause`: pauses each persistent sandbox (one already paused is left as it is). */
export async function pause(ctx: CommandContext): Promise<number> {
  const ids = ctx.positionals("ID...").map((id) => checkSandboxId(id, "pause"));
  const { connection, namespace } = await ctx.cluster();
  for (const id of new Set(ids)) {
    let sb: KubernetesSandbox;
    try {
      sb = await KubernetesSandbox.connect(id, {
        connection,
        namespace,
        resume: false,
        commandChannel: false,
        signal: ctx.signal,
      });
    } catch (err) {
      if (!(err instanceof SandboxPausedError)) throw err;
      ctx.info(`sandbox ${id} is paused already`);
      continue;
    }
    try {
      await sb.pause({ signal: ctx.signal });
      ctx.info(`paused sandbox ${id}`);
    } finally {
      await sb.disconnect();
    }
  }
  return 0;
}

/** `resume`: resumes each paused sandbox and lets go of it, running. */
export async function resume(ctx: CommandContext): Promise<number> {
  const ids = ctx.positionals("ID...").map((id) => checkSandboxId(id, "resume"));
  const { connection, namespace } = await ctx.cluster();
  for (const id of new Set(ids)) {
    const sb = await KubernetesSandbox.connect(id, {
      connection,
      namespace,
      commandChannel: false,
      signal: ctx.signal,
    });
    await sb.disconnect();
    ctx.info(`sandbox ${id} is running`);
  }
  return 0;
}
