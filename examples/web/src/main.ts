// The page: a Connect-ES client over gRPC-Web (generated from our protos by
// buf), with the pasted token as a bearer header; WatchTasks kept open so
// changes made elsewhere appear live, and ListTasks once it is open.

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { TaskEventType, TaskService, TaskState, type Task, type TaskEvent } from "./gen/todogenie/v1/task_service_pb";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const list = $<HTMLUListElement>("tasks");
const status = $<HTMLParagraphElement>("status");

let client: Client<typeof TaskService> | undefined;
let watching: AbortController | undefined;

function connect(): Client<typeof TaskService> {
  const token = $<HTMLTextAreaElement>("token").value.trim();
  const bearer: Interceptor = (next) => async (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  const transport = createGrpcWebTransport({
    baseUrl: $<HTMLInputElement>("server").value.trim(),
    interceptors: [bearer],
  });
  return createClient(TaskService, transport);
}

function show(error: unknown) {
  const e = ConnectError.from(error);
  status.textContent = `${Code[e.code]}: ${e.rawMessage}`;
}

/** Draws a task, replacing its row if it is already shown. */
function draw(task: Task) {
  let row = list.querySelector<HTMLLIElement>(`li[data-id="${task.id}"]`);
  if (!row) {
    row = document.createElement("li");
    row.dataset.id = task.id;
    row.innerHTML = `<span class="title"></span><span class="state"></span><button class="complete">Complete</button>`;
    row.querySelector("button")!.addEventListener("click", () => complete(task.id));
    list.prepend(row);
  }
  row.dataset.state = TaskState[task.state] ? `TASK_STATE_${TaskState[task.state]}` : "";
  row.querySelector(".title")!.textContent = task.title;
  row.querySelector(".state")!.textContent = TaskState[task.state]?.toLowerCase() ?? "";
  row.querySelector<HTMLButtonElement>("button")!.disabled = task.state === TaskState.COMPLETED;
}

function erase(id: string) {
  list.querySelector(`li[data-id="${id}"]`)?.remove();
}

function refresh() {
  client = connect();
  status.textContent = "";
  watch(client);
}

function apply(event: TaskEvent) {
  if (!event.task) return;
  if (event.type === TaskEventType.DELETED) erase(event.task.id);
  else draw(event.task);
}

/** Events held while the list is read (at most 10 s, the RPC timeout). */
const MAX_HELD = 1000;

/**
 * Keeps WatchTasks open; reconnects after a drop, a second later. The list is
 * read once the stream is open (its headers come only when task-service
 * consumes the feed), and events that arrive meanwhile are applied after it,
 * so nothing changed before or during a (re)connect is missed.
 */
async function watch(from: Client<typeof TaskService>) {
  watching?.abort();
  const controller = new AbortController();
  watching = controller;
  while (!controller.signal.aborted) {
    let held: TaskEvent[] | undefined = [];
    let ended = false;
    const opened = async () => {
      try {
        const page = await from.listTasks({ pageSize: 100 });
        list.replaceChildren();
        for (const task of [...page.tasks].reverse()) draw(task);
      } catch (e) {
        show(e);
      }
      for (const event of held ?? []) apply(event);
      held = undefined;
      // A stream that dropped while the list was read is not live.
      if (!controller.signal.aborted && !ended) $("live").hidden = false;
    };
    try {
      const stream = from.watchTasks({}, { signal: controller.signal, onHeader: () => void opened() });
      for await (const event of stream) {
        if (!held) apply(event);
        else if (held.length < MAX_HELD) held.push(event);
        // More changes than the page holds while its list is read: drop
        // this stream, and read the list again on the next one.
        else break;
      }
    } catch (e) {
      if (controller.signal.aborted) return;
      show(e);
    }
    ended = true;
    $("live").hidden = true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function add(event: SubmitEvent) {
  event.preventDefault();
  const input = $<HTMLInputElement>("title");
  if (!client) client = connect();
  try {
    const task = await client.createTask({ task: { title: input.value } });
    draw(task);
    input.value = "";
    status.textContent = "";
  } catch (e) {
    show(e);
  }
}

async function complete(id: string) {
  if (!client) return;
  try {
    const answer = await client.completeTask({ id });
    if (answer.task) draw(answer.task);
  } catch (e) {
    show(e);
  }
}

$("connect").addEventListener("click", refresh);
$<HTMLFormElement>("add-form").addEventListener("submit", add);
