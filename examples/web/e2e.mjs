// The page in a real browser (Debian's Chromium, driven by playwright-core)
// against the real task-service: a task made and completed through gRPC as
// soon as the page says it is live shows on the page within 2 s (WatchTasks
// over gRPC-Web); a task added on the page exists in task-service; Complete
// on the page completes it.
// Run by scripts/web-e2e.sh, which starts the service and the page.

import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TaskService, TaskState } from "./src/gen/todogenie/v1/task_service_pb.js";

const { PAGE_URL, SERVER_URL, TOKEN } = process.env;
assert.ok(PAGE_URL && SERVER_URL && TOKEN, "PAGE_URL, SERVER_URL and TOKEN are required");

// Plain gRPC (HTTP/2) from outside the page: what task-service itself says.
const grpc = createClient(
  TaskService,
  createGrpcTransport({
    baseUrl: SERVER_URL,
    interceptors: [(next) => (request) => {
      request.header.set("authorization", `Bearer ${TOKEN}`);
      return next(request);
    }],
  }),
);

async function eventually(what, check, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    assert.ok(Date.now() < deadline, `not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage();
  page.on("console", (message) => console.log(`page: ${message.text()}`));
  await page.goto(PAGE_URL);
  await page.fill("#server", SERVER_URL);
  await page.fill("#token", TOKEN);
  await page.click("#connect");
  await page.waitForSelector("#live:not([hidden])");

  // Made and completed elsewhere, the moment the page says it is live (the
  // stream is open then, not merely asked for): on the page within 2 s each.
  const elsewhere = `Made through gRPC ${Date.now()}`;
  const made = await grpc.createTask({ task: { title: elsewhere } });
  await page.waitForSelector(`li:has-text("${elsewhere}")`, { timeout: 2000 });
  await grpc.completeTask({ id: made.id });
  await page.waitForSelector(`li[data-state="TASK_STATE_COMPLETED"]:has-text("${elsewhere}")`, { timeout: 2000 });

  // Added on the page: task-service has it.
  const mine = `Added on the page ${Date.now()}`;
  await page.fill("#title", mine);
  await page.click("#add");
  await page.waitForSelector(`li:has-text("${mine}")`);
  const listed = await grpc.listTasks({ pageSize: 100 });
  const added = listed.tasks.find((t) => t.title === mine);
  assert.ok(added, "the page's task is in task-service");
  assert.equal(added.owner, "alice");

  // Completed on the page: task-service says so.
  await page.click(`li[data-id="${added.id}"] button.complete`);
  await eventually("the page's Complete reached task-service", async () =>
    (await grpc.getTask({ id: added.id })).state === TaskState.COMPLETED);
  assert.equal(await page.textContent("#status"), "");
  console.log("web e2e: passed");
} finally {
  await browser.close();
}
