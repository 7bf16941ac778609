/**
 * The built-in tools `runTool()` offers (`shell`, `code`, `file_read`, ...), run inside the
 * pod.
 *
 * @module
 */

export { builtinToolNames, runBuiltinTool, type ToolResult } from "./_tools.ts";
