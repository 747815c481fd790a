/**
 * Strict request decoding for the server. The generated deserializers are
 * lenient where the API must not be: protobufjs turns invalid UTF-8 in a
 * `string` field into U+FFFD, so a job would run with arguments nobody
 * sent; and a deserializer that throws makes grpc-js answer INTERNAL.
 *
 * {@link strictService} wraps every method's request deserializer: bytes
 * that do not decode, or whose string fields hold anything but valid UTF-8,
 * become an {@link Undecodable} value (never an exception) naming the
 * problem, which the handlers answer with INVALID_ARGUMENT.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import type { Buffer } from "node:buffer";
import protobuf from "protobufjs";
import { PROTO_PATH } from "./proto.ts";

const UNDECODABLE = Symbol("undecodable");

/** A request that could not be decoded; `reason` says why, for the client. */
export interface Undecodable {
  readonly [UNDECODABLE]: true;
  readonly reason: string;
}

/** Whether `request` is an {@link Undecodable}. */
export function isUndecodable(request: unknown): request is Undecodable {
  return typeof request === "object" && request !== null && UNDECODABLE in request;
}

function undecodable(reason: string): Undecodable {
  return { [UNDECODABLE]: true, reason };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The first string field (as a path) in `bytes` of `type` that is not valid UTF-8, or null. */
function badString(type: protobuf.Type, bytes: Uint8Array, path: string): string | null {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const wire = tag & 7;
    const field = type.fieldsById[tag >>> 3];
    if (wire !== 2 || field === undefined) {
      reader.skipType(wire);
      continue;
    }
    const value = reader.bytes();
    const name = `${path}${field.name}`;
    if (field instanceof protobuf.MapField) {
      // A map entry is a message: key = 1, value = 2.
      const entry = protobuf.Reader.create(value);
      while (entry.pos < entry.len) {
        const entryTag = entry.uint32();
        if ((entryTag & 7) !== 2) {
          entry.skipType(entryTag & 7);
          continue;
        }
        const part = entry.bytes();
        const isKey = entryTag >>> 3 === 1;
        const partType = isKey ? field.keyType : field.type;
        if (partType === "string" && !validUtf8(part)) {
          return `${name} (a ${isKey ? "key" : "value"})`;
        }
        if (!isKey && field.resolvedType instanceof protobuf.Type) {
          const inner = badString(field.resolvedType, part, `${name}.`);
          if (inner !== null) return inner;
        }
      }
    } else if (field.type === "string") {
      if (!validUtf8(value)) return name;
    } else if (field.resolvedType instanceof protobuf.Type) {
      const inner = badString(field.resolvedType, value, `${name}.`);
      if (inner !== null) return inner;
    }
  }
  return null;
}

function validUtf8(bytes: Uint8Array): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

let root: protobuf.Root | undefined;

/** The request type of `method` (e.g. `/jobworker.v1.JobWorker/Start`). */
function requestTypeOf(definition: grpc.MethodDefinition<unknown, unknown>): protobuf.Type | null {
  root ??= protobuf.loadSync(PROTO_PATH);
  const [, service, method] = /^\/(.+)\/([^/]+)$/.exec(definition.path) ?? [];
  if (service === undefined || method === undefined) return null;
  const typeName = root.lookupService(service).methods[method]?.requestType;
  return typeName === undefined
    ? null
    : root.lookupType(`${service.slice(0, service.lastIndexOf("."))}.${typeName}`);
}

/**
 * `service` with every request deserializer made strict (see the module
 * doc). Responses are untouched.
 *
 * @example
 * ```ts
 * server.addService(strictService(jobWorkerService()), handlers);
 * ```
 */
export function strictService(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, definition] of Object.entries(service)) {
    const type = requestTypeOf(definition);
    const lenient = definition.requestDeserialize;
    out[name] = {
      ...definition,
      requestDeserialize: (bytes: Buffer) => {
        let decoded: unknown;
        try {
          decoded = lenient(bytes);
        } catch (err) {
          return undecodable(
            `the request is not a valid ${type?.name ?? name} message (${(err as Error).message})`,
          );
        }
        let field: string | null;
        try {
          field = type === null ? null : badString(type, new Uint8Array(bytes), "");
        } catch (err) {
          return undecodable(`the request is malformed (${(err as Error).message})`);
        }
        if (field !== null) return undecodable(`field ${field} is not valid UTF-8`);
        return decoded;
      },
    };
  }
  return out as grpc.ServiceDefinition;
}
