/**
 * Development certificates for jobworker's mutual TLS, made with the
 * `openssl` command: a CA, a server certificate and client certificates,
 * all ECDSA P-256 with a short validity.
 *
 * `openssl ca` signs every leaf certificate (not `openssl x509 -req`) because
 * OpenSSL 3.0, the version on the build machines, can set explicit
 * notBefore/notAfter dates only through `openssl ca`; one signing path then
 * serves both the ordinary certificates and the expired ones tests need.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { checkClientName, checkCommonName, checkFileName, CREATE_PREFIX } from "./_names.ts";
import { CertificateError } from "./errors.ts";
import {
  caPaths,
  certPathsFor,
  type KeyPairPaths,
  keyPairPaths,
  serverCertPaths,
} from "./paths.ts";

/** Clients that get a certificate when none are named. */
export const DEFAULT_CLIENTS: readonly string[] = ["alice", "bob", "admin"];

/** Default validity of every certificate, in days. */
export const DEFAULT_DAYS = 30;

/** Longest validity accepted, in days; these are development certificates. */
export const MAX_DAYS = 3650;

/** Common name of the CA that {@link makeCertificates} creates. */
export const CA_COMMON_NAME = "jobworker dev CA";

/** Common name of the server certificate. */
export const SERVER_COMMON_NAME = "jobworker-server";

/** Names always in the server certificate's subjectAltName. */
export const DEFAULT_SERVER_NAMES: readonly string[] = ["localhost", "127.0.0.1"];

const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const DIR_MODE = 0o700;
const DAY_MS = 86_400_000;

const DNS_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const DNS_NAME = new RegExp(`^${DNS_LABEL}(?:\\.${DNS_LABEL})*$`);
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/;

/** A certificate that {@link makeCertificates} created or kept. */
export interface IssuedCertificate extends KeyPairPaths {
  /** True when written by this call, false when an existing valid one was kept. */
  created: boolean;
  /** End of the certificate's validity. */
  notAfter: Date;
}

/** Where {@link makeCertificates} put everything, and what it did. */
export interface CertPaths {
  /** The directory holding all the files, as given. */
  dir: string;
  /** The CA (`ca.pem`, `ca-key.pem`). */
  ca: IssuedCertificate;
  /** The server certificate (`server.pem`, `server-key.pem`) and its subjectAltNames. */
  server: IssuedCertificate & { names: string[] };
  /** One entry per requested client name (`<name>.pem`, `<name>-key.pem`). */
  clients: Record<string, IssuedCertificate>;
  /** Things worth telling a person, e.g. that an expired CA was replaced. */
  notes: string[];
}

/** Options of {@link makeCertificates}. */
export interface MakeCertificatesOptions {
  /** Client names, each the CN of one client certificate; default {@link DEFAULT_CLIENTS}. */
  clients?: readonly string[];
  /** Validity in days, 1 to {@link MAX_DAYS}; default {@link DEFAULT_DAYS}. */
  days?: number;
  /** DNS names or IP addresses added to {@link DEFAULT_SERVER_NAMES}. */
  serverNames?: readonly string[];
  /** Recreate everything, the CA included, even when the existing files are valid. */
  force?: boolean;
}

/** Options of {@link makeCertificate}. */
export interface MakeCertificateOptions {
  /** File base name: writes `<name>.pem` and `<name>-key.pem`. */
  name: string;
  /** Subject common name; default `name`. */
  cn?: string;
  /** The CA that signs the certificate. */
  issuer: KeyPairPaths;
  /** Extended key usage: clientAuth (default) or serverAuth. */
  usage?: "client" | "server";
  /** subjectAltNames (DNS names or IPs); default {@link DEFAULT_SERVER_NAMES} for servers, none for clients. */
  serverNames?: readonly string[];
  /** Validity in days from `notBefore`, used when `notAfter` is not given; default {@link DEFAULT_DAYS}. */
  days?: number;
  /** Start of validity; default now. */
  notBefore?: Date;
  /** End of validity; may be in the past, to make an expired certificate. */
  notAfter?: Date;
}

/** Options of {@link makeCertificateAuthority}. */
export interface MakeCertificateAuthorityOptions {
  /** File base name: writes `<name>.pem` and `<name>-key.pem`; default "ca". */
  name?: string;
  /** Subject common name; default {@link CA_COMMON_NAME}. */
  cn?: string;
  /** Validity in days; default {@link DEFAULT_DAYS}. */
  days?: number;
}

/**
 * Makes the CA, server and client certificates in `dir` (created with mode
 * 0700 when missing). A valid existing CA is reused, and so are existing
 * server and client certificates that it verifies, whose key matches and
 * (for the server) that carry every requested name; only the others are
 * (re)created. So adding a client never invalidates the certificates handed
 * out before. An expired CA is replaced, and with it the requested
 * certificates (others it signed stay on disk, no longer valid; a note says
 * so). A CA that is present but broken (one file missing, key not matching) is an
 * error unless `force` is set, because replacing it would silently
 * invalidate every certificate handed out.
 *
 * @throws {CertificateError} on invalid options or when an openssl step fails.
 */
export async function makeCertificates(
  dirArg: string,
  options: MakeCertificatesOptions = {},
): Promise<CertPaths> {
  // openssl runs in a scratch directory, so every path handed to it must be absolute.
  const dir = resolve(dirArg);
  const days = checkDays(options.days ?? DEFAULT_DAYS, CREATE_PREFIX);
  const clients = unique(options.clients ?? DEFAULT_CLIENTS);
  for (const client of clients) checkClientName(client, CREATE_PREFIX);
  const serverNames = unique([...DEFAULT_SERVER_NAMES, ...(options.serverNames ?? [])]);
  for (const name of serverNames) checkServerName(name, CREATE_PREFIX);
  await ensureDir(dir, CREATE_PREFIX);

  return await withWorkDir(CREATE_PREFIX, async (ctx) => {
    const notes: string[] = [];
    const caFiles = caPaths(dir);
    let newCa = options.force === true;
    const hadCa = await exists(caFiles.cert);
    if (!newCa) {
      const state = await inspectCa(ctx, caFiles);
      if (state.kind === "missing") newCa = true;
      if (state.kind === "expired") {
        newCa = true;
        notes.push(`the CA expired on ${isoSeconds(state.notAfter)}; made a new one`);
      }
    }
    if (newCa && hadCa) {
      // Only the requested certificates are remade; any other ones in the
      // directory still chain to the old CA.
      notes.push(
        "certificates made with the previous CA are no longer valid; " +
          "remake other clients' with --client NAME",
      );
    }
    // Taken before a new CA is made, so that new certificates do not
    // outlive it by the second or so the CA took to make.
    const notBefore = wholeSeconds(new Date());
    if (newCa) await createCa(ctx, caFiles, { cn: CA_COMMON_NAME, days });
    const ca: IssuedCertificate = {
      ...caFiles,
      created: newCa,
      notAfter: await readNotAfter(ctx, caFiles.cert),
    };
    if (!newCa) await enforceKeyMode(ctx, caFiles.key);

    // A certificate outliving its CA would be valid on paper only; end new
    // ones with a reused CA instead.
    let notAfter = new Date(notBefore.getTime() + days * DAY_MS);
    if (notAfter > ca.notAfter) {
      // Seconds short when the CA was made by the previous run a moment
      // ago: not worth a note.
      if (notAfter.getTime() - ca.notAfter.getTime() >= DAY_MS) {
        notes.push(
          `the reused CA ends on ${isoSeconds(ca.notAfter)}, and so do new certificates ` +
            "(use force for a fresh CA)",
        );
      }
      notAfter = ca.notAfter;
    }

    const issue = async (
      files: KeyPairPaths,
      leaf: { cn: string; usage: "client" | "server"; names: readonly string[] },
    ): Promise<IssuedCertificate> => {
      const keep = !newCa && await isReusable(ctx, files, { ca: caFiles.cert, ...leaf });
      if (keep) {
        await enforceKeyMode(ctx, files.key);
      } else {
        await createLeaf(ctx, files, { ...leaf, issuer: caFiles, notBefore, notAfter });
      }
      return { ...files, created: !keep, notAfter: await readNotAfter(ctx, files.cert) };
    };

    const serverFiles = serverCertPaths(dir);
    const server = {
      ...await issue(serverFiles, { cn: SERVER_COMMON_NAME, usage: "server", names: serverNames }),
      names: serverNames,
    };
    const issued: Record<string, IssuedCertificate> = {};
    for (const client of clients) {
      const { cert, key } = certPathsFor(dir, client);
      issued[client] = await issue({ cert, key }, { cn: client, usage: "client", names: [] });
    }
    return { dir, ca, server, clients: issued, notes };
  });
}

/**
 * Makes one certificate signed by `options.issuer`, writing
 * `<name>.pem` and `<name>-key.pem` into `dir` (replacing them). Meant for
 * tests that need unusual certificates: an expired one (`notBefore` and
 * `notAfter` in the past), one signed by another CA (see
 * {@link makeCertificateAuthority}), a server certificate used as a client.
 *
 * @throws {CertificateError} on invalid options or when an openssl step fails.
 */
export async function makeCertificate(
  dirArg: string,
  options: MakeCertificateOptions,
): Promise<KeyPairPaths> {
  const dir = resolve(dirArg);
  const issuer = { cert: resolve(options.issuer.cert), key: resolve(options.issuer.key) };
  options = { ...options, issuer };
  const prefix = `Cannot create certificate "${options.name}"`;
  checkFileName(options.name, prefix);
  const cn = options.cn ?? options.name;
  checkCommonName(cn, prefix);
  const usage = options.usage ?? "client";
  const names = unique(options.serverNames ?? (usage === "server" ? DEFAULT_SERVER_NAMES : []));
  for (const name of names) checkServerName(name, prefix);
  const days = checkDays(options.days ?? DEFAULT_DAYS, prefix);
  const notBefore = wholeSeconds(options.notBefore ?? new Date());
  const notAfter = wholeSeconds(
    options.notAfter ?? new Date(notBefore.getTime() + days * DAY_MS),
  );
  if (notAfter <= notBefore) {
    throw new CertificateError(`${prefix}: notAfter must be later than notBefore`);
  }
  await ensureDir(dir, prefix);
  const files = keyPairPaths(dir, options.name);
  await withWorkDir(
    prefix,
    (ctx) =>
      createLeaf(ctx, files, { cn, usage, names, issuer: options.issuer, notBefore, notAfter }),
  );
  return files;
}

/**
 * Makes a self-signed CA, writing `<name>.pem` and `<name>-key.pem` into
 * `dir` (replacing them); tests use it for certificates that our CA did not
 * sign.
 *
 * @throws {CertificateError} on invalid options or when an openssl step fails.
 */
export async function makeCertificateAuthority(
  dirArg: string,
  options: MakeCertificateAuthorityOptions = {},
): Promise<KeyPairPaths> {
  const dir = resolve(dirArg);
  const name = options.name ?? "ca";
  const prefix = `Cannot create CA "${name}"`;
  checkFileName(name, prefix);
  const cn = options.cn ?? CA_COMMON_NAME;
  checkCommonName(cn, prefix);
  const days = checkDays(options.days ?? DEFAULT_DAYS, prefix);
  await ensureDir(dir, prefix);
  const files = keyPairPaths(dir, name);
  await withWorkDir(prefix, (ctx) => createCa(ctx, files, { cn, days }));
  return files;
}

// ---------------------------------------------------------------------------
// Validation

function checkDays(days: number, prefix: string): number {
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new CertificateError(
      `${prefix}: days must be a whole number from 1 to ${MAX_DAYS}, got ${days}`,
    );
  }
  return days;
}

function checkServerName(name: string, prefix: string): void {
  if (!(IPV4.test(name) || IPV6.test(name) || (name.length <= 253 && DNS_NAME.test(name)))) {
    throw new CertificateError(
      `${prefix}: server name ${JSON.stringify(name)} is neither a DNS name nor an IP address`,
    );
  }
}

function isIp(name: string): boolean {
  return IPV4.test(name) || IPV6.test(name);
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}

// ---------------------------------------------------------------------------
// Running openssl

/** A temporary directory for CSRs, configs and the `openssl ca` database. */
interface Ctx {
  work: string;
  prefix: string;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

async function runOpenssl(ctx: Ctx, args: string[]): Promise<RunResult> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", {
      args,
      // Relative names in the configs resolve inside the work directory, so
      // its path (which could hold `$` or spaces) never enters a config.
      cwd: ctx.work,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err: unknown) {
    if (err instanceof Deno.errors.NotFound) {
      throw new CertificateError(`${ctx.prefix}: the openssl command is not installed`);
    }
    throw new CertificateError(`${ctx.prefix}: cannot run openssl: ${messageOf(err)}`);
  }
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Runs openssl and returns its stdout; throws naming `step` when it fails. */
async function openssl(ctx: Ctx, step: string, args: string[]): Promise<string> {
  const result = await runOpenssl(ctx, args);
  if (result.code !== 0) {
    throw new CertificateError(
      `${ctx.prefix}: openssl ${args[0]} failed (${step}): ${errorLine(result)}`,
    );
  }
  return result.stdout;
}

// Progress chatter that `openssl ca` writes to stderr before any error.
const NOISE = [
  /^Using configuration from/,
  /^Check that the request matches/,
  /^Signature ok/,
  /^The Subject's Distinguished Name/,
  /^\w+\s*:(ASN\.1|PRINTABLE|UTF8)/,
  /^Certificate is to be certified/,
];

function errorLine(result: RunResult): string {
  const line = result.stderr.split("\n").map((l) => l.trim())
    .find((l) => l !== "" && !NOISE.some((re) => re.test(l)));
  return line ?? `exit code ${result.code}`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function withWorkDir<T>(prefix: string, fn: (ctx: Ctx) => Promise<T>): Promise<T> {
  // Deno creates temporary directories with mode 0700, so the keys that pass
  // through it are never readable by others.
  const work = await Deno.makeTempDir({ prefix: "jobworker-certs-" });
  try {
    return await fn({ work, prefix });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

// ---------------------------------------------------------------------------
// Making certificates

async function generateKey(ctx: Ctx, step: string, out: string): Promise<void> {
  await openssl(ctx, step, [
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-pkeyopt",
    "ec_param_enc:named_curve",
    "-out",
    out,
  ]);
}

function requestConfig(cn: string, extensions = ""): string {
  return `[req]\nprompt = no\ndistinguished_name = dn\n[dn]\nCN = ${cn}\n${extensions}`;
}

async function createCa(
  ctx: Ctx,
  dest: KeyPairPaths,
  options: { cn: string; days: number },
): Promise<void> {
  const base = `ca-${basename(dest.cert, ".pem")}`;
  const step = `CA "${options.cn}"`;
  await generateKey(ctx, `${step} key`, `${base}-key.pem`);
  await Deno.writeTextFile(
    join(ctx.work, `${base}.cnf`),
    requestConfig(
      options.cn,
      "[ext]\n" +
        // pathlen:0: this CA signs leaf certificates only, never other CAs.
        "basicConstraints = critical, CA:TRUE, pathlen:0\n" +
        "keyUsage = critical, keyCertSign, cRLSign\n" +
        "subjectKeyIdentifier = hash\n" +
        "authorityKeyIdentifier = keyid:always\n",
    ),
  );
  await openssl(ctx, `${step} certificate`, [
    "req",
    "-x509",
    "-new",
    "-sha256",
    "-key",
    `${base}-key.pem`,
    "-config",
    `${base}.cnf`,
    "-extensions",
    "ext",
    "-days",
    String(options.days),
    "-out",
    `${base}.pem`,
  ]);
  await install(ctx, join(ctx.work, `${base}-key.pem`), dest.key, KEY_MODE);
  await install(ctx, join(ctx.work, `${base}.pem`), dest.cert, CERT_MODE);
}

interface LeafSpec {
  cn: string;
  usage: "client" | "server";
  names: readonly string[];
  issuer: KeyPairPaths;
  notBefore: Date;
  notAfter: Date;
}

let leafCounter = 0;

async function createLeaf(ctx: Ctx, dest: KeyPairPaths, spec: LeafSpec): Promise<void> {
  const base = `leaf-${++leafCounter}`;
  const step = `${spec.usage} certificate "${spec.cn}"`;
  await generateKey(ctx, `${step} key`, `${base}-key.pem`);
  await Deno.writeTextFile(join(ctx.work, `${base}.cnf`), requestConfig(spec.cn));
  await openssl(ctx, `${step} request`, [
    "req",
    "-new",
    "-key",
    `${base}-key.pem`,
    "-config",
    `${base}.cnf`,
    "-out",
    `${base}.csr`,
  ]);

  const lines = [
    "[ext]",
    "basicConstraints = critical, CA:FALSE",
    "keyUsage = critical, digitalSignature",
    `extendedKeyUsage = ${spec.usage === "server" ? "serverAuth" : "clientAuth"}`,
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid, issuer",
  ];
  if (spec.names.length > 0) {
    const alt = spec.names.map((n) => (isIp(n) ? `IP:${n}` : `DNS:${n}`)).join(", ");
    lines.push(`subjectAltName = ${alt}`);
  }
  await Deno.writeTextFile(join(ctx.work, `${base}.ext`), lines.join("\n") + "\n");
  await ensureCaDatabase(ctx);
  await openssl(ctx, `${step} signing`, [
    "ca",
    "-batch",
    "-notext",
    "-rand_serial",
    "-config",
    "ca.cnf",
    "-cert",
    spec.issuer.cert,
    "-keyfile",
    spec.issuer.key,
    "-in",
    `${base}.csr`,
    "-out",
    `${base}.pem`,
    "-extfile",
    `${base}.ext`,
    "-extensions",
    "ext",
    "-startdate",
    opensslDate(spec.notBefore),
    "-enddate",
    opensslDate(spec.notAfter),
  ]);
  await install(ctx, join(ctx.work, `${base}-key.pem`), dest.key, KEY_MODE);
  await install(ctx, join(ctx.work, `${base}.pem`), dest.cert, CERT_MODE);
}

/** The minimal `openssl ca` set-up: a config, an empty database, a serial file. */
async function ensureCaDatabase(ctx: Ctx): Promise<void> {
  const config = join(ctx.work, "ca.cnf");
  try {
    await Deno.lstat(config);
    return;
  } catch (err: unknown) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(join(ctx.work, "issued"));
  await Deno.writeTextFile(join(ctx.work, "index.txt"), "");
  // -rand_serial picks the serials, but OpenSSL 3.0 still insists that the
  // serial file be configured and readable.
  await Deno.writeTextFile(join(ctx.work, "serial"), "01\n");
  await Deno.writeTextFile(
    config,
    [
      "[ca]",
      "default_ca = jobworker",
      "[jobworker]",
      "database = index.txt",
      "new_certs_dir = issued",
      "serial = serial",
      "default_md = sha256",
      "policy = policy",
      // Reissuing for the same name must work (e.g. a replaced client).
      "unique_subject = no",
      "email_in_dn = no",
      "[policy]",
      "commonName = supplied",
      "",
    ].join("\n"),
  );
}

/** YYYYMMDDHHMMSSZ, the form `openssl ca -startdate/-enddate` accepts. */
function opensslDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:T]/g, "");
}

/** ISO 8601 without milliseconds, for messages. */
function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

// ---------------------------------------------------------------------------
// Files

async function ensureDir(dir: string, prefix: string): Promise<void> {
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) throw new CertificateError(`${prefix}: ${dir} is not a directory`);
    return;
  } catch (err: unknown) {
    if (!(err instanceof Deno.errors.NotFound)) {
      if (err instanceof CertificateError) throw err;
      throw new CertificateError(`${prefix}: cannot use ${dir}: ${messageOf(err)}`);
    }
  }
  try {
    await Deno.mkdir(dir, { recursive: true, mode: DIR_MODE });
    // mkdir's mode is filtered by the umask; chmod makes it exact.
    await Deno.chmod(dir, DIR_MODE);
  } catch (err: unknown) {
    throw new CertificateError(`${prefix}: cannot create ${dir}: ${messageOf(err)}`);
  }
}

/**
 * Copies `src` to `dest` through a temporary file in dest's directory and a
 * rename, so that `dest` is never half-written, with exactly `mode`.
 */
async function install(ctx: Ctx, src: string, dest: string, mode: number): Promise<void> {
  const tmp = join(dirname(dest), `.${basename(dest)}.${crypto.randomUUID()}.tmp`);
  try {
    const data = await Deno.readFile(src);
    // Created with the final mode (so a key is never readable by others,
    // even briefly), then chmod because the umask may have narrowed it.
    await Deno.writeFile(tmp, data, { mode, createNew: true });
    await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, dest);
  } catch (err: unknown) {
    await Deno.remove(tmp).catch(() => {});
    throw new CertificateError(`${ctx.prefix}: cannot write ${dest}: ${messageOf(err)}`);
  }
  await verifyMode(ctx, dest, mode);
}

async function enforceKeyMode(ctx: Ctx, path: string): Promise<void> {
  try {
    await Deno.chmod(path, KEY_MODE);
  } catch (err: unknown) {
    throw new CertificateError(`${ctx.prefix}: cannot chmod ${path}: ${messageOf(err)}`);
  }
  await verifyMode(ctx, path, KEY_MODE);
}

async function verifyMode(ctx: Ctx, path: string, mode: number): Promise<void> {
  const actual = (await Deno.stat(path)).mode;
  if (actual === null || (actual & 0o777) !== mode) {
    throw new CertificateError(
      `${ctx.prefix}: ${path} has mode ${
        actual === null ? "unknown" : (actual & 0o777).toString(8)
      }` +
        `, expected ${mode.toString(8)}`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err: unknown) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

// ---------------------------------------------------------------------------
// Inspecting existing certificates

type CaState = { kind: "missing" } | { kind: "valid" } | { kind: "expired"; notAfter: Date };

async function inspectCa(ctx: Ctx, files: KeyPairPaths): Promise<CaState> {
  const [haveCert, haveKey] = [await exists(files.cert), await exists(files.key)];
  if (!haveCert && !haveKey) return { kind: "missing" };
  const broken = (why: string) =>
    new CertificateError(
      `${ctx.prefix}: ${why}; use force (--force) to replace the CA and every certificate`,
    );
  if (!haveCert) throw broken(`${files.key} exists but ${files.cert} does not`);
  if (!haveKey) throw broken(`${files.cert} exists but ${files.key} does not`);

  const notAfter = await readNotAfter(ctx, files.cert).catch(() => null);
  if (notAfter === null) throw broken(`${files.cert} is not a readable certificate`);
  if (notAfter.getTime() <= Date.now()) return { kind: "expired", notAfter };
  if (!await keysMatch(ctx, files)) throw broken(`${files.key} does not belong to ${files.cert}`);
  const self = await runOpenssl(ctx, ["verify", "-CAfile", files.cert, files.cert]);
  if (self.code !== 0) throw broken(`${files.cert} is not a usable CA: ${errorLine(self)}`);
  return { kind: "valid" };
}

async function isReusable(
  ctx: Ctx,
  files: KeyPairPaths,
  want: { ca: string; cn: string; usage: "client" | "server"; names: readonly string[] },
): Promise<boolean> {
  if (!await exists(files.cert) || !await exists(files.key)) return false;
  const purpose = want.usage === "server" ? "sslserver" : "sslclient";
  // verify covers the signature by our CA, the validity dates and the EKU.
  const verified = await runOpenssl(ctx, [
    "verify",
    "-CAfile",
    want.ca,
    "-purpose",
    purpose,
    files.cert,
  ]);
  if (verified.code !== 0) return false;
  const subject = await runOpenssl(ctx, [
    "x509",
    "-in",
    files.cert,
    "-noout",
    "-subject",
    "-nameopt",
    "RFC2253",
  ]);
  if (subject.code !== 0 || subject.stdout.trim() !== `subject=CN=${want.cn}`) return false;
  if (!await keysMatch(ctx, files)) return false;
  for (const name of want.names) {
    // openssl's own matching, because it prints IPv6 SANs in a different
    // form (0:0:...:1) than they may be given (::1).
    const flag = isIp(name) ? "-checkip" : "-checkhost";
    const check = await runOpenssl(ctx, ["x509", "-in", files.cert, "-noout", flag, name]);
    if (check.code !== 0 || !/ does match certificate/.test(check.stdout)) return false;
  }
  return true;
}

async function keysMatch(ctx: Ctx, files: KeyPairPaths): Promise<boolean> {
  const fromCert = await runOpenssl(ctx, ["x509", "-in", files.cert, "-noout", "-pubkey"]);
  const fromKey = await runOpenssl(ctx, ["pkey", "-in", files.key, "-pubout"]);
  return fromCert.code === 0 && fromKey.code === 0 && fromCert.stdout === fromKey.stdout;
}

async function readNotAfter(ctx: Ctx, cert: string): Promise<Date> {
  const out = await openssl(ctx, `reading ${cert}`, [
    "x509",
    "-in",
    cert,
    "-noout",
    "-enddate",
    "-dateopt",
    "iso_8601",
  ]);
  // "notAfter=2026-01-02 03:04:05Z"
  const match = /^notAfter=(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\dZ)$/m.exec(out);
  const date = match ? new Date(`${match[1]}T${match[2]}`) : null;
  if (date === null || Number.isNaN(date.getTime())) {
    throw new CertificateError(`${ctx.prefix}: cannot read the end date of ${cert}`);
  }
  return date;
}
