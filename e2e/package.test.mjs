// web/ as an npm package: `npm pack` ships filelock.js and its declarations,
// and the tarball installs and imports by name, in Node and in TypeScript.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./lib/server.mjs";

const run = promisify(execFile);
const web = join(repoRoot, "web");
const tsc = resolve(repoRoot, "e2e", "node_modules", "typescript", "bin", "tsc");

test("npm pack --dry-run lists filelock.js and filelock.d.ts", async () => {
  const { stdout } = await run("npm", ["pack", "--dry-run", "--json"], { cwd: web });
  const [info] = JSON.parse(stdout);
  const files = info.files.map((f) => f.path).sort();
  assert.ok(files.includes("filelock.js"), files.join(", "));
  assert.ok(files.includes("filelock.d.ts"), files.join(", "));
  assert.ok(files.includes("package.json"));
  assert.ok(!files.some((f) => f.startsWith("static/") || f.endsWith(".go")), `the demo page is not in the package: ${files}`);
});

test("the packed tarball installs, imports by name and type-checks", async () => {
  const dir = await mkdtemp(join(tmpdir(), "filelock-pkg-"));
  try {
    const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: web });
    const [{ filename }] = JSON.parse(stdout);
    await writeFile(join(dir, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    await run("npm", ["install", "--offline", "--no-audit", "--no-fund", join(dir, filename)], { cwd: dir });
    const { stdout: out } = await run(process.execPath, ["--input-type=module", "-e", `
      import { FileLockClient, FileLockError, ERROR_CODES, Connection } from "filelock-client";
      const c = new FileLockClient({ baseUrl: "http://127.0.0.1:9", userId: "u", autoConnect: false });
      console.log(JSON.stringify({ connection: c.connection, failed: Connection.FAILED,
        err: new FileLockError({ code: "timeout" }).code, codes: Object.keys(ERROR_CODES).length }));
      c.close();`], { cwd: dir });
    assert.deepEqual(JSON.parse(out), { connection: "idle", failed: "failed", err: "timeout", codes: 8 });
    await writeFile(join(dir, "app.ts"), `
      import { FileLockClient, type LockHandle } from "filelock-client";
      const c = new FileLockClient({ userId: "u", transport: "sse" });
      const h: Promise<LockHandle> = c.project("p").claim(["a.jpg"]);
      void h.then((x) => x.release());
    `);
    await writeFile(join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, lib: ["ES2022", "DOM"], types: [] },
      files: ["app.ts"],
    }));
    await run(process.execPath, [tsc, "-p", join(dir, "tsconfig.json")], { cwd: dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
