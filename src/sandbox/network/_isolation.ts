/**
 * The isolation check: does the cluster's network plugin enforce the sandbox's NetworkPolicy?
 *
 * A policy on a cluster whose plugin ignores NetworkPolicy (flannel, the bridge plugin) isolates
 * nothing, silently. So, in one exec, the sandbox listens on the two probe ports and connects to
 * itself through its own Service (leaving its network namespace: the service proxy sends the
 * connection back through the node). Its policy allows that on one port and forbids it on the
 * other, so:
 * - the allowed port answers and the forbidden one does not: `"enforced"`;
 * - both answer, and the connection came back through the node (its source is not the pod's own
 *   address): `"not-enforced"`;
 * - anything else (the allowed port does not answer either: no service proxy, no hairpin, a
 *   socket-level load balancer that never left the pod, no python3 in the image): `"unknown"`.
 * A wrong `"enforced"` is worse than `"unknown"`, so only the pair proves anything. A policy takes
 * a moment to be enforced after it is written, so the check tries again for a few seconds before
 * it says `"not-enforced"`.
 *
 * The probe runs in the pod, which the occupant controls once its commands run: its answer ends
 * with a random key sent on stdin, and a check that must be trusted runs before the first
 * command (`requireIsolation`, and warm pool sandboxes).
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import { IsolationError } from "../../errors.ts";
import { corePath, type Pod, type Service } from "../../client/resources.ts";
import { execInPod, type PodTarget, STEP_PRELUDE } from "../exec/mod.ts";
import {
  INTERNAL_CIDRS_V4,
  type PolicyRules,
  PROBE_CLOSED_PORT,
  PROBE_OPEN_PORT,
} from "./_network_policy.ts";

/** Whether the sandbox's NetworkPolicy is enforced (see the module's documentation). */
export type IsolationStatus = "enforced" | "not-enforced" | "unknown";

/** The isolation check's result. */
export interface IsolationReport {
  /** The verdict. */
  status: IsolationStatus;
  /** What was probed and what it gave, in words. */
  detail: string;
  /**
   * What weakens the policy even where it is enforced: a pod or Service address outside the
   * ranges `egress: "internet"` excludes (add the cluster's networks to `clusterCidrs`).
   */
  warnings: string[];
  /** When the check ended. */
  checkedAt: Date;
  /**
   * Whether the verdict was recorded as an Event on the pod (`kubectl describe pod` shows it);
   * the Role needs `create` on events.
   */
  eventRecorded?: boolean;
}

/** How long a forbidden connection that goes through is retried before it counts. */
export const SETTLE_SECONDS = 10;

/**
 * The probe: argv host, open port, closed port, seconds to retry, the pod's own addresses; the
 * key on stdin. Prints `KEY verdict detail`. Connections time out after a second each.
 */
const PROBE_PY = String.raw`
import select, socket, sys, time
key = sys.stdin.readline().strip()
host, ok, bad, settle, own, strict = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5].split(","), sys.argv[6] == "1"
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
def out(verdict, detail):
    print(key, verdict, detail[:200]); sys.stdout.flush(); sys.exit(0)
def listen(p):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", p)); s.listen(8); s.setblocking(False); return s
try:
    ls = {ok: listen(ok), bad: listen(bad)}
except OSError as e:
    out("unknown", "cannot listen on the probe ports (errno %s)" % e.errno)
def attempt(p):
    c = socket.socket(fam); c.settimeout(1.0)
    try:
        c.connect((host, p))
    except socket.timeout:
        return "timeout", None
    except ConnectionRefusedError:
        return "refused", None
    except OSError as e:
        return "error %s" % e.errno, None
    peer = None
    if select.select([ls[p]], [], [], 0.5)[0]:
        a, addr = ls[p].accept(); peer = addr[0]; a.close()
    c.close()
    return "open", peer
until = time.monotonic() + settle
while True:
    o, _ = attempt(ok)
    b, peer = attempt(bad)
    if o == "open" and b != "open":
        out("enforced", "the allowed port answered; the forbidden one gave: " + b)
    if o != "open":
        last = ("unknown", "the allowed port did not answer either (%s): no path back to the pod through its Service" % o)
    elif peer is None or peer in own or peer.startswith("127.") or peer == "::1":
        last = ("unknown", "the forbidden port answered, but the connection never left the pod (from %s)" % peer)
    elif not strict:
        last = ("unknown", "the forbidden port answered, but the policy allows the sandbox to reach itself one way, which some plugins take as enough")
    else:
        last = ("not-enforced", "a connection the policy forbids went through (from %s)" % peer)
    if time.monotonic() >= until:
        out(*last)
    time.sleep(0.5)
`;

/** The same probe in Perl, for images without Python (Debian's and Ubuntu's all have perl-base). */
const PROBE_PL = String.raw`
use strict; use warnings; use IO::Socket::INET; use IO::Select; use Errno; use Time::HiRes qw(time sleep);
$| = 1;
my $key = <STDIN>; $key = "" unless defined $key; $key =~ s/\s+//g;
my ($host, $ok, $bad, $settle, $own, $strict) = @ARGV;
my %own = map { $_ => 1 } split /,/, $own;
sub out { my ($v, $d) = @_; print "$key $v " . substr($d, 0, 200) . "\n"; exit 0; }
out("unknown", "the Perl probe speaks IPv4 only") if $host =~ /:/;
my %ls;
for my $p ($ok, $bad) {
  $ls{$p} = IO::Socket::INET->new(LocalPort => $p, Listen => 8, ReuseAddr => 1, Proto => "tcp")
    or out("unknown", "cannot listen on the probe ports (errno " . ($! + 0) . ")");
}
sub attempt {
  my $p = shift;
  my $c = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $p, Proto => "tcp", Timeout => 1);
  if (!$c) {
    return ("refused", undef) if $!{ECONNREFUSED};
    return ("timeout", undef) if $!{ETIMEDOUT} || $!{EINPROGRESS} || !($! + 0);
    return ("error " . ($! + 0), undef);
  }
  my $peer;
  if (IO::Select->new($ls{$p})->can_read(0.5)) {
    my $a = $ls{$p}->accept; if ($a) { $peer = $a->peerhost; close $a; }
  }
  close $c;
  return ("open", $peer);
}
my $until = time + $settle;
my @last;
while (1) {
  my ($o) = attempt($ok);
  my ($b, $peer) = attempt($bad);
  out("enforced", "the allowed port answered; the forbidden one gave: $b") if $o eq "open" && $b ne "open";
  if ($o ne "open") {
    @last = ("unknown", "the allowed port did not answer either ($o): no path back to the pod through its Service");
  } elsif (!defined $peer || $own{$peer} || $peer =~ /^127\./) {
    @last = ("unknown", "the forbidden port answered, but the connection never left the pod (from " . ($peer // "?") . ")");
  } elsif ($strict ne "1") {
    @last = ("unknown", "the forbidden port answered, but the policy allows the sandbox to reach itself one way, which some plugins take as enough");
  } else {
    @last = ("not-enforced", "a connection the policy forbids went through (from $peer)");
  }
  out(@last) if time >= $until;
  sleep 0.5;
}
`;

/**
 * Runs the probe with python3, else perl; `$0` is the Python program, `$1` the Perl one, `$2`
 * which to prefer (`auto` or `perl`), then the probe's arguments.
 */
const SCRIPT = `${STEP_PRELUDE} py=$0; pl=$1; prefer=$2; shift 2; ` +
  `if [ "$prefer" != perl ] && command -v python3 >/dev/null 2>&1; then ` +
  `exec python3 -c "$py" "$@"; fi; ` +
  `if command -v perl >/dev/null 2>&1 && perl -MIO::Socket::INET -MIO::Select -e 1 2>/dev/null; ` +
  `then exec perl -e "$pl" "$@"; fi; ` +
  `read -r key; echo "$key unknown the image has neither python3 nor perl to probe with"`;

const VERDICT = /^([0-9a-f]{32}) (enforced|not-enforced|unknown) ([\x20-\x7e]{0,200})$/;

function report(status: IsolationStatus, detail: string, warnings: string[]): IsolationReport {
  return { status, detail, warnings, checkedAt: new Date() };
}

const IPV4_ADDRESS = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Whether the IPv4 address `ip` lies in the IPv4 CIDR `cidr` (false for anything IPv6). */
function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split("/");
  if (!IPV4_ADDRESS.test(ip) || !IPV4_ADDRESS.test(base)) return false;
  const toInt = (a: string) => a.split(".").reduce((n, o) => n * 256 + Number(o), 0);
  const shift = 32 - Number(bits);
  return Math.floor(toInt(ip) / 2 ** shift) === Math.floor(toInt(base) / 2 ** shift);
}

/** Whether the IPv4 address `ip` lies in one of the ranges `egress: "internet"` excludes. */
function isInternal(ip: string, extra: string[]): boolean {
  if (!IPV4_ADDRESS.test(ip)) return true; // IPv6: not judged here
  return [...INTERNAL_CIDRS_V4, ...extra].some((cidr) => inCidr(ip, cidr));
}

/**
 * Whether `rules` (one direction of the sandbox's policy) surely forbid the pod at `podIp` to
 * reach itself on the probe's closed port. A peer the library cannot judge (a selector other than
 * the probe's own, an IPv6 address) counts as allowing.
 */
function forbidsSelf(rules: Record<string, unknown>[], podIp: string): boolean {
  return rules.every((rule) => {
    const ports = rule.ports as { port: number }[] | undefined;
    if (ports && !ports.some((p) => p.port === PROBE_CLOSED_PORT)) return true;
    const peers = (rule.to ?? rule.from) as Record<string, unknown>[] | undefined;
    if (!peers) return false;
    return peers.every((peer) => {
      const block = peer.ipBlock as { cidr: string; except?: string[] } | undefined;
      if (!block || peer.podSelector || peer.namespaceSelector) return false;
      if (!IPV4_ADDRESS.test(podIp)) return false;
      if (block.cidr.includes(":")) return true;
      return !inCidr(podIp, block.cidr) || (block.except ?? []).some((c) => inCidr(podIp, c));
    });
  });
}

/**
 * Whether the sandbox's policy forbids the probe's closed port in both directions. Some plugins
 * (kube-router) let a pod reach itself through its Service when either direction allows it, so
 * a connection that goes through proves nothing unless both forbid it.
 */
export function forbidsProbeBothWays(rules: PolicyRules, podIp: string): boolean {
  return forbidsSelf(rules.egress, podIp) && forbidsSelf(rules.ingress, podIp);
}

/** Addresses of the sandbox that `"internet"` egress would still reach. */
export function exposedAddresses(
  pod: Pod,
  service: Service | undefined,
  extra: string[],
): string[] {
  const ips = [
    ...(pod.status?.podIPs?.map((p) => p.ip) ?? [pod.status?.podIP]),
    service?.spec?.clusterIP,
  ].filter((ip): ip is string => !!ip && ip !== "None");
  return ips.filter((ip) => !isInternal(ip, extra)).map((ip) =>
    `${ip} (the sandbox's own network) is outside the ranges "internet" egress excludes; ` +
    `add the cluster's pod and Service networks to clusterCidrs`
  );
}

/**
 * Runs the check in the sandbox (one exec). Never throws for what the pod answers: a probe that
 * fails or lies about its format is `"unknown"`. Rejects only when aborted.
 */
export async function checkIsolation(
  target: PodTarget,
  pod: Pod,
  service: Service | undefined,
  options: {
    /** Whether the policy forbids the closed port both ways (see forbidsProbeBothWays()). */
    strict?: boolean;
    /** Which interpreter to try first (tests): `"perl"` skips python3. Default `"auto"`. */
    prober?: "auto" | "perl";
    settleSeconds?: number;
    warnings?: string[];
    signal?: AbortSignal;
    /** Decides whether the probe's connection keeps the process alive (see `ConnectionHold`). */
    hold?: { attach(socket: WebSocket): void };
  } = {},
): Promise<IsolationReport> {
  const warnings = options.warnings ?? [];
  const host = service?.spec?.clusterIP;
  const ports = new Set(service?.spec?.ports?.map((p) => p.port));
  if (!host || host === "None" || !ports.has(PROBE_OPEN_PORT) || !ports.has(PROBE_CLOSED_PORT)) {
    return report("unknown", "the sandbox's Service has no probe ports to check with", warnings);
  }
  const own = pod.status?.podIPs?.map((p) => p.ip) ?? [pod.status?.podIP ?? ""];
  const key = Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const settle = options.settleSeconds ?? SETTLE_SECONDS;
  const argv = [
    "/bin/sh",
    "-c",
    SCRIPT,
    PROBE_PY,
    PROBE_PL,
    options.prober ?? "auto",
    host,
    String(PROBE_OPEN_PORT),
    String(PROBE_CLOSED_PORT),
    String(settle),
    own.join(","),
    options.strict ? "1" : "0",
  ];
  // Past its settle time and two rounds of timeouts the probe is unknown. An unref'd timer: a
  // check nobody waits for keeps no process alive (`AbortSignal.timeout()` with listeners would).
  const deadline = new AbortController();
  const late = () => deadline.abort(new DOMException("the probe ran late", "TimeoutError"));
  const timer = setTimeout(late, (settle + 10) * 1000);
  Deno.unrefTimer(timer);
  const signal = AbortSignal.any([deadline.signal, ...(options.signal ? [options.signal] : [])]);
  let stdout: Uint8Array;
  try {
    ({ stdout } = await execInPod(target, argv, {
      stdin: `${key}\n`,
      maxOutputBytes: 4096,
      signal,
      hold: options.hold,
    }));
  } catch (err) {
    options.signal?.throwIfAborted();
    const why = err instanceof Error ? err.name : "an error";
    return report("unknown", `the probe could not run (${why})`, warnings);
  } finally {
    clearTimeout(timer);
  }
  const verdict = parseVerdict(stdout, key);
  return verdict
    ? report(verdict.status, verdict.detail, warnings)
    : report("unknown", "the probe gave no verdict", warnings);
}

/**
 * The probe's verdict in `stdout` (the pod's bytes: untrusted): the first line that carries
 * `key`, a known verdict and at most 200 printable ASCII characters; `undefined` when none does.
 */
export function parseVerdict(
  stdout: Uint8Array,
  key: string,
): { status: IsolationStatus; detail: string } | undefined {
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    const m = VERDICT.exec(line);
    if (m && m[1] === key) return { status: m[2] as IsolationStatus, detail: m[3] };
  }
  return undefined;
}

/**
 * Records the verdict as an Event on the pod (`kubectl describe pod` shows it). Best effort: a
 * Role without `create` on events loses only the Event. Returns whether it was recorded.
 */
export async function recordIsolationEvent(
  client: KubeClient,
  namespace: string,
  pod: Pod,
  result: IsolationReport,
  signal?: AbortSignal,
): Promise<boolean> {
  const now = new Date().toISOString();
  const reason = result.status === "enforced"
    ? "IsolationEnforced"
    : result.status === "not-enforced"
    ? "IsolationNotEnforced"
    : "IsolationUnknown";
  try {
    await client.request(corePath(namespace, "events"), {
      method: "POST",
      body: {
        apiVersion: "v1",
        kind: "Event",
        metadata: { generateName: `${pod.metadata.name}.isolation-`, namespace },
        involvedObject: {
          apiVersion: "v1",
          kind: "Pod",
          name: pod.metadata.name,
          namespace,
          uid: pod.metadata.uid,
        },
        type: result.status === "not-enforced" ? "Warning" : "Normal",
        reason,
        message: [result.detail, ...result.warnings].join("; ").slice(0, 1000),
        source: { component: "orbiter-sandbox-k8s" },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
      signal,
    });
    return true;
  } catch {
    return false;
  }
}

/** The error of a check that does not meet `require`, or `undefined`. */
export function isolationFailure(
  report: IsolationReport,
  require: "not-refuted" | "enforced",
): IsolationError | undefined {
  if (report.status === "enforced") return undefined;
  if (report.status === "unknown" && require === "not-refuted") return undefined;
  return report.status === "not-enforced"
    ? new IsolationError(
      "NotEnforced",
      `the cluster does not enforce the sandbox's NetworkPolicy (${report.detail}); use a ` +
        `network plugin that enforces NetworkPolicy, or drop requireIsolation`,
    )
    : new IsolationError(
      "Unverified",
      `the isolation check could not show that the sandbox's NetworkPolicy is enforced ` +
        `(${report.detail}); use requireIsolation: true to accept an unknown result`,
    );
}
