// The page: a Connect-ES client over gRPC-Web (generated from our protos by
// buf), with the pasted token as a bearer header; ListTasks on connect,
// WatchTasks kept open so changes made elsewhere appear live.

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { TaskEventType, TaskService, TaskState, type Task } from "./gen/todogenie/v1/task_service_pb";

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

async function refresh() {
  client = connect();
  status.textContent = "";
  list.replaceChildren();
  try {
    const page = await client.listTasks({ pageSize: 100 });
    for (const task of [...page.tasks].reverse()) draw(task);
  } catch (e) {
    return show(e);
  }
  watch(client);
}

/** Keeps WatchTasks open; reconnects after a drop, a second later. */
async function watch(from: Client<typeof TaskService>) {
  watching?.abort();
  const controller = new AbortController();
  watching = controller;
  $("live").hidden = false;
  while (!controller.signal.aborted) {
    try {
      for await (const event of from.watchTasks({}, { signal: controller.signal })) {
        if (!event.task) continue;
        if (event.type === TaskEventType.DELETED) erase(event.task.id);
        else draw(event.task);
      }
    } catch (e) {
      if (controller.signal.aborted) return;
      show(e);
    }
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
