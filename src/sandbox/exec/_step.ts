/**
 * Marks a command as one of the library's own steps (a file operation, a detached process's
 * bookkeeping, delivering env and files). A step never reads the late-bound environment file,
 * which the sandbox's user can write, and runs with a fixed `PATH` (`SAFE_PATH`): the occupant
 * cannot make the library's `tar`, `stat` or `kill` its own.
 *
 * @module
 */

const LIBRARY_STEP: unique symbol = Symbol("orbiter.libraryStep");

/** A copy of `options` (a command's options) marked as those of a library step. */
export function asStep<T extends object>(options: T): T {
  return { ...options, [LIBRARY_STEP]: true };
}

/** Whether `options` are those of a library step (see {@linkcode asStep}). */
export function isStep(options: object): boolean {
  return (options as { [LIBRARY_STEP]?: boolean })[LIBRARY_STEP] === true;
}
