/**
 * Code contexts: an interpreter in the sandbox that keeps its state between runs and returns rich
 * results.
 *
 * @module
 */

export {
  CodeAccess,
  type CodeContext,
  type CodeContextOptions,
  type CodeDeps,
  type CodeLanguage,
  type Execution,
  type ExecutionError,
  type ExecutionResult,
  type RunCodeOptions,
  type SandboxCode,
} from "./_code.ts";
