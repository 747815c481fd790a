/**
 * Job output: one append-only file per job holding its stdout and stderr.
 *
 * The job's processes write to the file directly (opened
 * `O_WRONLY|O_APPEND`); the server never copies bytes. {@linkcode OutputFile}
 * serves the file to any number of {@linkcode OutputReader}s, each at its own
 * offset, which wait for new bytes via inotify while the job runs and see end
 * of stream once {@linkcode OutputFile.complete} was called and every byte
 * was read.
 *
 * @example
 * ```ts ignore
 * import { OutputFile } from "./mod.ts";
 *
 * const output = await OutputFile.create(path);
 * const reader = output.reader({ offset: resumeAt });
 * const chunk = await reader.readChunk(); // { offset, data } or null at the end
 * ```
 *
 * @module
 */
export { OutputFile, type OutputFileOpenOptions, type OutputReaderOptions } from "./output_file.ts";
export {
  DEFAULT_CHUNK_SIZE,
  MAX_STREAM_CHUNK_SIZE,
  type OutputChunk,
  OutputReader,
} from "./reader.ts";
