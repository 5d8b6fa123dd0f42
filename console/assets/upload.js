// Uploads: one request for small files, the two-step flow (POST /uploads,
// then the bytes to upload_url) above SMALL_LIMIT, with the SHA-256
// computed a slice at a time so the file is never held in memory.
import { sha256 } from "./vendor/noble-hashes/sha2.js";
import { send, getKey } from "./api.js";

export const SMALL_LIMIT = 4 * 1024 * 1024; // POST /upload's limit on AWS
const SLICE = 8 * 1024 * 1024;

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// hashFile returns the hex SHA-256 of a File, reading SLICE bytes at a time.
export async function hashFile(file, onProgress) {
  const h = sha256.create();
  for (let off = 0; off < file.size; off += SLICE) {
    const buf = await file.slice(off, Math.min(off + SLICE, file.size)).arrayBuffer();
    h.update(new Uint8Array(buf));
    if (onProgress) onProgress(Math.min(off + SLICE, file.size), file.size);
  }
  return hex(h.digest());
}

function failure(r, what) {
  const e = r.json && r.json.error ? r.json.error : {};
  let msg = e.message || what + " answered " + r.status;
  if (r.status === 429 && r.retryAfter) msg += " (retry in " + r.retryAfter + " s)";
  const err = new Error(msg);
  err.status = r.status;
  err.code = e.code;
  return err;
}

// uploadFile sends a file and resolves with {file_id, status, record?,
// errors?}. report(phase, loaded, total) tells the progress: phase is
// "HASHING" or "UPLOADING".
export async function uploadFile(file, report, { twoStep = file.size > SMALL_LIMIT } = {}) {
  if (!twoStep) {
    const form = new FormData();
    form.append("file", file, file.name);
    const r = await send({ method: "POST", url: "/upload", headers: { "x-api-key": getKey() }, body: form,
      onProgress: (l, t) => report("UPLOADING", l, t) });
    if (r.status === 413 && r.json && r.json.error && r.json.error.code === "use_uploads") {
      return uploadFile(file, report, { twoStep: true });
    }
    if (r.status === 202 || r.status === 200 || r.status === 422) return r.json;
    throw failure(r, "POST /upload");
  }
  const sum = await hashFile(file, (l, t) => report("HASHING", l, t));
  const start = await send({ method: "POST", url: "/uploads",
    headers: { "x-api-key": getKey(), "Content-Type": "application/json" },
    body: JSON.stringify({ filename: file.name, size_bytes: file.size, sha256: sum }) });
  if (start.status === 200) return start.json; // known bytes: nothing to send
  if (start.status !== 201) throw failure(start, "POST /uploads");
  const plan = start.json;
  const put = await send({ method: plan.method || "PUT", url: plan.upload_url, headers: plan.headers || {}, body: file,
    onProgress: (l, t) => report("UPLOADING", l, t) });
  if (put.status < 200 || put.status > 299) throw failure(put, "the upload URL");
  return { file_id: plan.file_id, status: "AWAITING_UPLOAD" };
}
