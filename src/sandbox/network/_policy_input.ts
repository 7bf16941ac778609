/**
 * The user's input to a network policy, checked as the API server would check it, so that a
 * malformed CIDR, port or selector fails before any request, with the option named.
 *
 * @module
 */

import { InvalidOptionError } from "../../errors.ts";
import type { LabelSelector, NetworkPolicyPeer, PolicyPort } from "../options.ts";
import { validateLabels, validatePort } from "../../_internal/validate.ts";

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const IPV6 = /^[0-9a-fA-F:.]+\/(\d{1,3})$/;

/** Whether `cidr` is an IPv4 or IPv6 CIDR the API server accepts. */
function isCidr(cidr: unknown): cidr is string {
  if (typeof cidr !== "string") return false;
  const v4 = IPV4.exec(cidr);
  if (v4) return v4.slice(1, 5).every((o) => Number(o) <= 255) && Number(v4[5]) <= 32;
  return IPV6.test(cidr) && cidr.includes(":") && Number(cidr.split("/")[1]) <= 128;
}

/** `cidr`, checked. */
export function validateCidr(option: string, cidr: unknown): string {
  if (!isCidr(cidr)) {
    throw new InvalidOptionError(
      option,
      `${JSON.stringify(cidr)} is not a CIDR such as 10.0.0.0/8`,
    );
  }
  return cidr;
}

export function policyPorts(option: string, ports: PolicyPort[] | undefined) {
  if (ports !== undefined && !Array.isArray(ports)) {
    throw new InvalidOptionError(option, "must be a list of ports");
  }
  return (ports ?? []).map((p, j) => {
    const where = `${option}[${j}]`;
    if (typeof p === "number") return { port: validatePort(where, p), protocol: "TCP" };
    const protocol = p?.protocol ?? "TCP";
    if (!["TCP", "UDP", "SCTP"].includes(protocol)) {
      throw new InvalidOptionError(`${where}.protocol`, "must be TCP, UDP or SCTP");
    }
    return { port: validatePort(`${where}.port`, p?.port), protocol };
  });
}

function selector(option: string, value: LabelSelector | undefined) {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== "object") {
    throw new InvalidOptionError(
      option,
      "must be a label selector { matchLabels?, matchExpressions? }",
    );
  }
  validateLabels(`${option}.matchLabels`, value.matchLabels);
  const expressions = value.matchExpressions ?? [];
  if (!Array.isArray(expressions)) {
    throw new InvalidOptionError(`${option}.matchExpressions`, "must be a list");
  }
  expressions.forEach((e, i) => {
    const where = `${option}.matchExpressions[${i}]`;
    if (!["In", "NotIn", "Exists", "DoesNotExist"].includes(e?.operator)) {
      throw new InvalidOptionError(
        `${where}.operator`,
        "must be In, NotIn, Exists or DoesNotExist",
      );
    }
    validateLabels(where, { [e.key]: "" });
    for (const v of e.values ?? []) validateLabels(`${where}.values`, { [e.key]: v });
  });
  return {
    ...(value.matchLabels ? { matchLabels: { ...value.matchLabels } } : {}),
    ...(value.matchExpressions ? { matchExpressions: expressions.map((e) => ({ ...e })) } : {}),
  };
}

export function peer(option: string, p: NetworkPolicyPeer) {
  if (p === null || typeof p !== "object") {
    throw new InvalidOptionError(option, "must be { podSelector?, namespaceSelector?, ipBlock? }");
  }
  const podSelector = selector(`${option}.podSelector`, p.podSelector);
  const namespaceSelector = selector(`${option}.namespaceSelector`, p.namespaceSelector);
  let ipBlock;
  if (p.ipBlock !== undefined) {
    if (podSelector || namespaceSelector) {
      throw new InvalidOptionError(option, "ipBlock cannot be combined with a selector");
    }
    const except = p.ipBlock.except ?? [];
    ipBlock = {
      cidr: validateCidr(`${option}.ipBlock.cidr`, p.ipBlock?.cidr),
      ...(except.length
        ? { except: except.map((c, i) => validateCidr(`${option}.ipBlock.except[${i}]`, c)) }
        : {}),
    };
  }
  if (!podSelector && !namespaceSelector && !ipBlock) {
    throw new InvalidOptionError(option, "needs a podSelector, a namespaceSelector or an ipBlock");
  }
  return {
    ...(podSelector ? { podSelector } : {}),
    ...(namespaceSelector ? { namespaceSelector } : {}),
    ...(ipBlock ? { ipBlock } : {}),
  };
}
