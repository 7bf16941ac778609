/**
 * The benchmark in a small smoke mode (2 samples, 4 MiB files, a fan-out of 5), so that
 * `deno task bench` cannot rot unnoticed: it must run to the end against the local cluster, print
 * every ratio, and then end by itself (a connection left open would keep `deno task bench`
 * running forever after writing its results). Its results go to a temporary file, never to
 * bench/RESULTS.md.
 */

import assert from "node:assert/strict";
import { skipUnlessCluster } from "./_cluster.ts";

const ignore = skipUnlessCluster();
/** Bound of the whole smoke run. */
const RUN_MS = 30 * 60_000;
/** How long the process may take to exit once the bench says it has finished. */
const EXIT_MS = 5000;

Deno.test({
  name: "deno task bench runs to the end in smoke mode, prints every ratio, and exits by itself",
  ignore,
  sanitizeResources: false,
  async fn() {
    const results = await Deno.makeTempFile({ prefix: "orbiter-bench-smoke-", suffix: ".md" });
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-lock", "--allow-all", "bench/bench.ts"],
      cwd: new URL("../../", import.meta.url),
      env: {
        BENCH_SAMPLES: "2",
        BENCH_FILE_SAMPLES: "1",
        BENCH_FILE_MIB: "4",
        BENCH_FANOUT: "5",
        BENCH_STREAM_MIB: "8",
        BENCH_TRANSFER_MIB: "4",
        BENCH_PERSIST_MIB: "4",
        BENCH_RESULTS: results,
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = new Response(child.stdout).text();
    let stderr = "";
    const finished = (async () => {
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
        stderr += text;
        if (/\] finished$/m.test(stderr)) return true;
      }
      return false;
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const within = <T>(p: Promise<T>, ms: number) =>
      Promise.race([p, new Promise<"late">((r) => timer = setTimeout(() => r("late"), ms))])
        .finally(() => clearTimeout(timer));
    try {
      const end = await within(finished, RUN_MS);
      if (end !== true) {
        assert.fail(
          end === "late"
            ? `bench did not finish within ${RUN_MS} ms:\n${stderr.slice(-3000)}`
            : `bench ended without finishing:\n${stderr.slice(-3000)}`,
        );
      }
      const status = await within(child.status, EXIT_MS);
      if (status === "late") {
        assert.fail(
          `bench finished but was still running ${EXIT_MS} ms later: something it opened ` +
            `keeps it alive:\n${stderr.slice(-2000)}`,
        );
      }
      assert.equal(status.code, 0, `bench failed:\n${stderr.slice(-3000)}`);
      const out = await stdout;
      // Every ratio but fanout100_vs_single, which needs a fan-out of 100.
      for (
        const name of [
          "start_vs_kubectl",
          "start_vs_seed_polling",
          "exec_vs_kubectl",
          "exec_vs_client_node",
          "exec_channel_vs_plain",
          "ttfc_pool_vs_cold",
          "ttfc_pool_vs_kubectl_exec",
          "import_vs_client_node",
          "files_vs_kubectl_cp",
          "stream_vs_kubectl_exec",
          "fetch_vs_kubectl_port_forward",
          "fetch_vs_kubectl_port_forward_oneshot",
          "dirs_vs_kubectl_cp",
          "code_context_vs_exec",
          "files_vs_stream",
          "tree_vs_kubectl_cp",
          "resume_vs_cold",
          "fork4_vs_create_upload",
        ]
      ) {
        assert.match(out, new RegExp(`^ratio ${name} \\d`, "m"), `${name} in:\n${out}`);
      }
      assert.match(await Deno.readTextFile(results), /^# Benchmark results/);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // It ended by itself.
      }
      await child.status;
      await stdout.catch(() => {});
      await finished.catch(() => {});
      await Deno.remove(results);
    }
  },
});
