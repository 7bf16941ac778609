/**
 * What every command gets: its parsed arguments, the streams, the interrupt signal, and the
 * cluster (the kubeconfig is loaded once, on first use, and only after the arguments passed).
 *
 * @module
 */

import { type ConnectionConfig, KubernetesSandbox } from "../../mod.ts";
import { chosenNamespace, resolveNamespace } from "../_internal/env.ts";
import { checkNamespace, type ParsedArgs, UsageError } from "./_args.ts";
import { escapeMessage } from "./_escape.ts";
import { loadCliKubeConfig } from "./_kubeconfig.ts";
import { Progress } from "./_progress.ts";
import type { CliIo } from "./io.ts";

const encoder = new TextEncoder();

/** The cluster a command talks to. */
export interface Cluster {
  /** The resolved connection (loaded once per run). */
  connection: ConnectionConfig;
  /** `--namespace`, else `ORBITER_K8S_NAMESPACE`, else the context's, else `default`. */
  namespace: string;
}

/** One run of one command. */
export class CommandContext {
  /** The command's name. */
  readonly command: string;
  /** Its arguments. */
  readonly args: ParsedArgs;
  /** The streams. */
  readonly io: CliIo;
  /** Aborted by Ctrl-C. */
  readonly signal: AbortSignal;
  /** Progress on stderr, shown only on a terminal. */
  readonly progress: Progress;
  #cluster: Promise<Cluster> | undefined;

  constructor(command: string, args: ParsedArgs, io: CliIo, signal: AbortSignal) {
    this.command = command;
    this.args = args;
    this.io = io;
    this.signal = signal;
    this.progress = new Progress(io.stderr);
  }

  /** A string flag's value. */
  flag(name: string): string | undefined {
    const v = this.args.flags[name];
    return typeof v === "string" ? v : undefined;
  }

  /** Whether a boolean flag was given. */
  bool(name: string): boolean {
    return this.args.flags[name] === true;
  }

  /** Every value of a list flag. */
  list(name: string): string[] {
    const v = this.args.flags[name];
    return Array.isArray(v) ? v : [];
  }

  /**
   * The positionals, checked against `names` (`NAME?` optional, `NAME...` one or more).
   *
   * @throws {UsageError} too few or too many.
   */
  positionals(...names: string[]): string[] {
    const got = this.args.positionals;
    const required = names.filter((n) => !n.endsWith("?")).length;
    const variadic = names.at(-1)?.endsWith("...") ?? false;
    if (got.length < required) {
      throw new UsageError(`missing ${names[got.length].replace(/\.\.\.|\?/, "")}`, this.command);
    }
    if (!variadic && got.length > names.length) {
      throw new UsageError(
        `unexpected argument "${got[names.length].slice(0, 80)}"${
          this.command === "exec" || this.command === "spawn" ? " (put the command after --)" : ""
        }`,
        this.command,
      );
    }
    return got;
  }

  /** Writes text to stdout. */
  out(text: string): void {
    this.io.stdout.write(encoder.encode(text));
  }

  /** Writes a line to stderr, escaped: notes name what the sandbox holds. */
  note(text: string): void {
    this.io.stderr.write(encoder.encode(`${escapeMessage(text)}\n`));
  }

  /** Writes a line to stderr only when it is a terminal (what scripts need not see). */
  info(text: string): void {
    if (this.io.stderr.isTerminal) this.note(text);
  }

  /** The namespace the flags name, when they name one (checked). */
  namespaceFlag(): string | undefined {
    const ns = this.flag("namespace");
    return ns === undefined ? undefined : checkNamespace(ns);
  }

  /** The cluster: the kubeconfig loaded once, and the namespace resolved. */
  cluster(): Promise<Cluster> {
    return this.#cluster ??= (async () => {
      // Both checked before the kubeconfig is read: a bad ORBITER_K8S_NAMESPACE is bad usage.
      const flagged = this.namespaceFlag();
      chosenNamespace(flagged);
      const connection = await loadCliKubeConfig({
        kubeconfig: this.flag("kubeconfig"),
        context: this.flag("context"),
      });
      return { connection, namespace: resolveNamespace(flagged, connection.namespace) };
    })();
  }

  /**
   * The running sandbox `id`, without a command channel: a CLI run sends a command or two, and
   * one exec each is cheaper than opening a channel first.
   */
  async connect(id: string, commandChannel = false): Promise<KubernetesSandbox> {
    const { connection, namespace } = await this.cluster();
    return await KubernetesSandbox.connect(id, {
      connection,
      namespace,
      commandChannel,
      signal: this.signal,
    });
  }
}
