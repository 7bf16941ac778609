/**
 * The benchmark in a small smoke mode (2 samples, 4 MiB files, a fan-out of 5), so that
 * `deno task bench` cannot rot unnoticed: it must run to the end against the local cluster and
 * print every ratio. Its results go to a temporary file, never to bench/RESULTS.md.
 */

import assert from "node:assert/strict";
import { skipUnlessCluster } from "./_cluster.ts";

const ignore = skipUnlessCluster();

Deno.test({
  name: "deno task bench runs to the end in smoke mode and prints every ratio",
  ignore,
  sanitizeResources: false,
  async fn() {
    const results = await Deno.makeTempFile({ prefix: "orbiter-bench-smoke-", suffix: ".md" });
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-lock", "--allow-all", "bench/bench.ts"],
        cwd: new URL("../../", import.meta.url),
        env: {
          BENCH_SAMPLES: "2",
          BENCH_FILE_SAMPLES: "1",
          BENCH_FILE_MIB: "4",
          BENCH_FANOUT: "5",
          BENCH_STREAM_MIB: "8",
          BENCH_RESULTS: results,
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `bench failed:\n${stderr.slice(-3000)}`);
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
        ]
      ) {
        assert.match(stdout, new RegExp(`^ratio ${name} \\d`, "m"), `${name} in:\n${stdout}`);
      }
      assert.match(await Deno.readTextFile(results), /^# Benchmark results/);
    } finally {
      await Deno.remove(results);
    }
  },
});
