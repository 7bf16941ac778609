/**
 * Running commands in a sandbox's container: the public command types, the runner (one exec
 * session per command, or the command channel: one long-lived session many commands share), the
 * scripts every command needs, and the one writer of private files (late-bound env, secrets).
 *
 * @module
 */

export {
  deliveries,
  exportLines,
  type StepRun,
  stepRunner,
  writePrivateFile,
} from "./_private_file.ts";
export {
  type CommandRun,
  CommandRunner,
  type ExecOptions,
  type ExecResult,
  FOREVER_SECONDS,
  type SandboxCommands,
  type ShOptions,
  type StartedCommand,
} from "./_commands.ts";
export { execInPod, type PodTarget } from "./_exec_in_pod.ts";
export { withEnv } from "./_exec_wrapped.ts";
export { OutputStream } from "./_output_stream.ts";
export { KILL_TREE, READ_ENV, RUN_SOURCE, STEP_PRELUDE } from "./_scripts.ts";
export { asStep } from "./_step.ts";
