/**
 * What the operator fences the model in with: the network levels of every sandbox, the images it
 * may run, caps on CPU, memory and local disk, and how many sandboxes the server holds at once.
 * Every check here runs before any request to the cluster, and refuses with an
 * `InvalidOptionError` that names the option and the operator's flag.
 *
 * @module
 */

import { InvalidOptionError, SandboxError } from "../errors.ts";
import type { ResourceRequirements } from "../sandbox/options.ts";
import { quantityValue, validateQuantity } from "../_internal/validate.ts";

/** Egress levels the operator may choose (`--egress`). */
export const EGRESS_LEVELS = ["none", "internet", "all"] as const;
/** Ingress levels the operator may choose (`--ingress`). */
export const INGRESS_LEVELS = ["none", "all"] as const;
/** The resources a cap applies to, with their flags. */
export const CAPPED = [
  ["cpu", "--max-cpu"],
  ["memory", "--max-memory"],
  ["ephemeral-storage", "--max-ephemeral-storage"],
] as const;

/** A capped resource's name. */
export type CappedResource = (typeof CAPPED)[number][0];

/** The operator's fences, validated. */
export interface Fences {
  /** Egress of every sandbox; `undefined`: the library's default (`"internet"`). */
  egress?: (typeof EGRESS_LEVELS)[number];
  /** Ingress of every sandbox; `undefined`: the library's default (`"none"`). */
  ingress?: (typeof INGRESS_LEVELS)[number];
  /** Images allowed, as given (compared in their normalized form); `undefined`: any image. */
  allowImages?: readonly string[];
  /** Largest limit (and request) of each resource; the limit of a sandbox that names none. */
  caps: Partial<Record<CappedResource, string>>;
  /** The pull policy of every sandbox; `"Always"` by default with an allow-list. */
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
}

/**
 * An image reference in a canonical form, so that `python:3.11-slim`,
 * `library/python:3.11-slim` and `docker.io/library/python:3.11-slim` compare equal, and a
 * reference without tag or digest means `:latest`.
 */
export function normalizeImage(ref: string): string {
  let name = ref;
  let digest = "";
  const at = name.indexOf("@");
  if (at >= 0) [name, digest] = [name.slice(0, at), name.slice(at)];
  let tag = "";
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/")) [name, tag] = [name.slice(0, colon), name.slice(colon)];
  const parts = name.split("/");
  const first = parts[0];
  const hasRegistry = parts.length > 1 &&
    (first.includes(".") || first.includes(":") || first === "localhost");
  if (!hasRegistry) parts.unshift("docker.io");
  if (parts[0] === "index.docker.io" || parts[0] === "registry-1.docker.io") parts[0] = "docker.io";
  if (parts[0] === "docker.io" && parts.length === 2) parts.splice(1, 0, "library");
  if (!tag && !digest) tag = ":latest";
  return parts.join("/") + tag + digest;
}

const IMAGE_REF = /^[a-zA-Z0-9][a-zA-Z0-9._\-/:@]{0,511}$/;

/**
 * Checks an image reference the operator gave (`--allow-image`, `--image`).
 *
 * @throws {InvalidOptionError} not an image reference.
 */
export function validateImageRef(flag: string, ref: string): string {
  if (!IMAGE_REF.test(ref) || ref.includes("//") || ref.endsWith("/") || ref.endsWith(":")) {
    throw new InvalidOptionError(flag, `${JSON.stringify(ref)} is not an image reference`);
  }
  return ref;
}

/**
 * Checks an operator's cap (`--max-cpu` and the others): a quantity above zero.
 *
 * @throws {InvalidOptionError} not a positive quantity.
 */
export function validateCap(flag: string, value: string): string {
  validateQuantity(flag, value);
  if (!(quantityValue(value) > 0)) {
    throw new InvalidOptionError(flag, `${JSON.stringify(value)} is not a quantity above zero`);
  }
  return value;
}

/**
 * The image a `sandbox_create` call may run: `requested`, else the server's default.
 *
 * @throws {InvalidOptionError} the image is not on the allow-list.
 */
export function checkImage(fences: Fences, requested: string | undefined, fallback?: string) {
  const image = requested ?? fallback;
  if (!fences.allowImages) return image;
  if (image === undefined) {
    // Unreachable with the server's own defaults (the first allowed image is the default).
    throw new InvalidOptionError("image", "this server needs an image from its allow-list");
  }
  const wanted = normalizeImage(image);
  if (!fences.allowImages.some((a) => normalizeImage(a) === wanted)) {
    throw new InvalidOptionError(
      "image",
      `${JSON.stringify(image)} is not allowed on this server (its --allow-image); allowed: ` +
        fences.allowImages.join(", "),
    );
  }
  return image;
}

/**
 * `resources` within the caps: a limit or request above a cap is refused; a capped resource
 * without a limit gets the cap as its limit.
 *
 * @throws {InvalidOptionError} a bad quantity, or one above the server's cap.
 */
export function capResources(
  fences: Fences,
  resources: ResourceRequirements | undefined,
): ResourceRequirements | undefined {
  if (!Object.keys(fences.caps).length) return resources;
  const limits: Record<string, string | undefined> = { ...resources?.limits };
  const requests: Record<string, string | undefined> = { ...resources?.requests };
  for (const [name, flag] of CAPPED) {
    const cap = fences.caps[name];
    if (cap === undefined) continue;
    for (const [kind, values] of [["limits", limits], ["requests", requests]] as const) {
      const v = values[name];
      if (v === undefined) continue;
      validateQuantity(`resources.${kind}.${name}`, v);
      if (quantityValue(v) > quantityValue(cap)) {
        throw new InvalidOptionError(
          `resources.${kind}.${name}`,
          `${v} is more than this server's cap of ${cap} (its ${flag})`,
        );
      }
    }
    limits[name] ??= cap;
  }
  return { limits, requests } as ResourceRequirements;
}

/**
 * Sandboxes a whole server holds (every session of an HTTP server together): a slot is taken
 * before a sandbox is created or attached, and given back when it is deleted or let go of, or
 * when its creation fails.
 */
export class SandboxBudget {
  /** Most sandboxes at once. */
  readonly max: number;
  #used = 0;

  constructor(max: number) {
    this.max = max;
  }

  /** Slots taken. */
  get used(): number {
    return this.#used;
  }

  /**
   * Takes a slot; the function returned gives it back (once, however often it is called).
   *
   * @throws {SandboxError} none is free.
   */
  take(): () => void {
    if (this.#used >= this.max) {
      throw new SandboxError(
        `this server already holds ${this.max} sandbox(es), its limit (--max-sandboxes): ` +
          `delete one with sandbox_delete first`,
      );
    }
    this.#used++;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#used--;
    };
  }
}
