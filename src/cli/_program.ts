/**
 * The command line's name, in its messages and help.
 *
 * @module
 */

/** The program's name in messages and help. */
export const PROGRAM = "orbiter-sandbox";
