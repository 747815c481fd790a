/**
 * Who is calling, and what they may see: the one place for authentication
 * and authorization. Identity is the Common Name of the client certificate
 * that mutual TLS verified; nothing else is trusted.
 *
 * @module
 */
import { status } from "@grpc/grpc-js";
import type { IdRange } from "../job/mod.ts";
import { RequestError } from "./errors.ts";

/** An authenticated caller. */
export interface Caller {
  /** The client certificate's CN. */
  user: string;
  /** Admins see and control every job. */
  admin: boolean;
}

/** What {@link callerOf} needs of a call: grpc-js's auth context. */
export interface AuthContextSource {
  getAuthContext(): {
    transportSecurityType?: string;
    sslPeerCertificate?: {
      subject?: Record<string, string | string[] | undefined>;
      /** True for a CA certificate. */
      ca?: boolean;
    };
  };
}

/** Authorization policy: admin CNs, and optionally the only CNs allowed at all. */
export interface AuthPolicy {
  /** CNs that see and control all jobs. */
  admins: ReadonlySet<string>;
  /** When set, only these CNs (and admins) may call at all. */
  allowedUsers?: ReadonlySet<string>;
  /** The ids admins may ask for with runAs; unset: the same as everyone. */
  adminRunAs?: readonly IdRange[];
}

/**
 * The caller of a call. Throws UNAUTHENTICATED when the connection carries
 * no verified client certificate with a CN (or the certificate is a CA's),
 * PERMISSION_DENIED when the
 * policy has an allow-list without this CN.
 */
export function callerOf(call: AuthContextSource, policy: AuthPolicy): Caller {
  const context = call.getAuthContext();
  const cn = context.sslPeerCertificate?.subject?.CN;
  const user = Array.isArray(cn) ? cn[0] : cn;
  if (context.transportSecurityType !== "ssl" || typeof user !== "string" || user === "") {
    throw new RequestError(status.UNAUTHENTICATED, "a client certificate with a CN is required");
  }
  // TLS verification accepts the CA's own self-signed certificate as a
  // client; a CA is no user, so it is refused here.
  if (context.sslPeerCertificate?.ca === true) {
    throw new RequestError(
      status.UNAUTHENTICATED,
      "a CA certificate cannot be used as a client certificate",
    );
  }
  const admin = policy.admins.has(user);
  if (policy.allowedUsers && !admin && !policy.allowedUsers.has(user)) {
    throw new RequestError(status.PERMISSION_DENIED, `user ${JSON.stringify(user)} may not call`);
  }
  return { user, admin };
}

/**
 * The CN the client certificate presents, whether or not it may call: for
 * the audit log. Null without a certificate or a CN.
 */
export function peerName(call: AuthContextSource): string | null {
  const context = call.getAuthContext();
  if (context.transportSecurityType !== "ssl") return null;
  const cn = context.sslPeerCertificate?.subject?.CN;
  const user = Array.isArray(cn) ? cn[0] : cn;
  return typeof user === "string" && user !== "" ? user : null;
}

/** Whether `caller` may see and control a job owned by `owner`. */
export function mayAccess(caller: Caller, owner: string): boolean {
  return caller.admin || caller.user === owner;
}

/**
 * The runAs ranges `caller` may ask for, or undefined for the job
 * manager's default (what everyone may ask for).
 */
export function runAsRangesOf(caller: Caller, policy: AuthPolicy): readonly IdRange[] | undefined {
  return caller.admin ? policy.adminRunAs : undefined;
}
