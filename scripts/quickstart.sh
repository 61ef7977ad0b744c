#!/usr/bin/env bash
# README's quick start, every command of it, against the pair that
# ./scripts/start.sh runs (scripts/readme-test.sh runs this file in CI with a
# real grpcurl). Addresses follow the same variables as the services.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/release"
tasks="${TASK_GRPC_ADDR:-127.0.0.1:50051}"
notifier="${NOTIFIER_GRPC_ADDR:-127.0.0.1:50052}"
export JWT_SECRET="${JWT_SECRET:-dev-secret-change-me-0123456789abcdef}"

TOKEN=$("$bin/task-service" token --sub alice --role user --ttl 24h)
ADMIN=$("$bin/task-service" token --sub ops --role admin --ttl 1h)
# A field of grpcurl's JSON answer on stdin, e.g. `field id`.
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

grpcurl --plaintext "$tasks" list
grpcurl --plaintext -d '{"service":"todogenie.v1.TaskService"}' "$tasks" grpc.health.v1.Health/Check

task=$(grpcurl --plaintext -H "authorization: Bearer $TOKEN" -d '{
  "task": {"title": "Pay rent", "dueTime": "2030-12-01T09:00:00Z", "timeZone": "Europe/Berlin",
           "tags": ["home"], "priority": "PRIORITY_HIGH", "recurrence": "monthly",
           "reminders": [{"beforeDue": "3600s"}]},
  "requestId": "rent-'"$RANDOM"'"}' "$tasks" todogenie.v1.TaskService/CreateTask)
echo "$task"
id=$(echo "$task" | field id)
etag=$(echo "$task" | field etag)

grpcurl --plaintext -H "authorization: Bearer $TOKEN" \
  -d '{"query": "rent", "tags": ["HOME"], "orderBy": "priority desc, due_time", "pageSize": 20}' \
  "$tasks" todogenie.v1.TaskService/ListTasks

# Protobuf text format here: grpcurl builds disagree on FieldMask's JSON form.
grpcurl --plaintext --format text -H "authorization: Bearer $TOKEN" \
  -d "task { id: \"$id\" etag: \"$etag\" title: \"Pay the rent\" } update_mask { paths: \"title\" }" \
  "$tasks" todogenie.v1.TaskService/UpdateTask

grpcurl --plaintext -H "authorization: Bearer $TOKEN" -d "{\"id\": \"$id\", \"duration\": \"3600s\"}" \
  "$tasks" todogenie.v1.TaskService/SnoozeTask
grpcurl --plaintext -H "authorization: Bearer $TOKEN" -d "{\"id\": \"$id\"}" \
  "$tasks" todogenie.v1.TaskService/CompleteTask
grpcurl --plaintext -H "authorization: Bearer $ADMIN" -d '{"states": ["TASK_STATE_PENDING"]}' \
  "$tasks" todogenie.v1.TaskService/ListTasks

curl -fsS "http://${TASK_HTTP_ADDR:-127.0.0.1:9101}/metrics" | grep rpc_requests_total

# The notifier: alice's WhatsApp contact (PENDING until the number answers
# the confirmation request), then her notifications.
grpcurl --plaintext -H "authorization: Bearer $TOKEN" -d '{"contact": {
  "phoneNumber": "+14155550123", "timeZone": "Europe/Berlin", "locale": "en",
  "whatsappOptIn": true, "quietHours": {"start": "22:00", "end": "07:00"}}}' \
  "$notifier" todogenie.v1.NotifierService/UpsertContact
grpcurl --plaintext -H "authorization: Bearer $TOKEN" \
  -d '{"statuses": ["NOTIFICATION_STATUS_SENT", "NOTIFICATION_STATUS_DELIVERED"]}' \
  "$notifier" todogenie.v1.NotifierService/ListNotifications
curl -fsS "http://${NOTIFIER_HTTP_ADDR:-127.0.0.1:8080}/readyz"
