/** The test CA's certificates (tests/testdata/tls/, made by tests/testdata/make_tls.sh). */

/** Folder of the test certificates. */
export const TLS_DIR: URL = new URL("./testdata/tls/", import.meta.url);

/** Reads one PEM file of the test CA's set (`ca.crt`, `server.key`, `client.crt`, ...). */
export function tls(file: string): string {
  return Deno.readTextFileSync(new URL(file, TLS_DIR));
}

/**
 * An HTTPS server on 127.0.0.1 (random port) with the server certificate the test CA signed for
 * 127.0.0.1, localhost and apiserver.test.
 */
export function serveTls(
  handler: (req: Request) => Response | Promise<Response>,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      cert: tls("server.crt"),
      key: tls("server.key"),
      onListen() {},
    },
    handler,
  );
}
