//! Talking to TodoGenie, end to end: a message becomes one task (however
//! often its webhook comes), the answer says what was understood and Undo
//! deletes it (`today` has the list); strangers get no task and one answer a day;
//! an answer WhatsApp did not take is sent again, and only the answer; a
//! message whose action failed is tried again soon, holding back no other.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use todogenie_common::auth::Role;
use todogenie_proto::v1 as pb;
use todogenie_standin::{Fault, Sent};

use crate::helpers::{poll, spawn_end_to_end, Pair, Tasks};

pub(crate) const PHONE: &str = "+14155550123";
pub(crate) const DIGITS: &str = "14155550123";
pub(crate) const WAIT: Duration = Duration::from_secs(30);

pub(crate) async fn tasks_of(tasks: &mut Tasks) -> Vec<pb::Task> {
    tasks
        .list_tasks(pb::ListTasksRequest::default())
        .await
        .expect("ListTasks")
        .into_inner()
        .tasks
}

/// What went to `digits` that is not a reminder or a mark-read: the answers.
pub(crate) fn answers(pair: &Pair, digits: &str, kind: &str) -> Vec<Sent> {
    pair.standin
        .sent_to(digits)
        .into_iter()
        .filter(|s| s.kind == kind)
        .collect()
}

pub(crate) async fn wait_answers(pair: &Pair, digits: &str, kind: &str, n: usize) -> Vec<Sent> {
    poll(WAIT, &format!("{n} {kind} answer(s)"), || async {
        answers(pair, digits, kind).len() >= n
    })
    .await;
    answers(pair, digits, kind)
}

pub(crate) fn body_text(sent: &Sent) -> String {
    let body = &sent.body;
    body["interactive"]["body"]["text"]
        .as_str()
        .or(body["text"]["body"].as_str())
        .unwrap_or_default()
        .to_owned()
}

pub(crate) fn first_button_id(sent: &Sent) -> String {
    sent.body["interactive"]["action"]["buttons"][0]["reply"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Inbound messages (not status reports) acted on.
pub(crate) async fn inbound_done(pair: &Pair) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM inbound WHERE done_time IS NOT NULL AND kind <> 'status'",
    )
    .fetch_one(&pair.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_message_makes_one_task_and_an_answer_naming_it_however_often_it_comes() {
    let pair = spawn_end_to_end().await;
    pair.contact("alice", PHONE).await;
    let mut tasks = pair.tasks_client("alice").await;
    let payload = pair
        .standin
        .webhooks
        .text_payload(DIGITS, "pay rent tomorrow 9am #home !high");
    pair.standin.open_window(DIGITS);
    assert_eq!(pair.standin.webhooks.post(&payload).await, 200);
    assert_eq!(pair.standin.webhooks.post(&payload).await, 200);

    let answer = wait_answers(&pair, DIGITS, "interactive", 1).await;
    let made = tasks_of(&mut tasks).await;
    assert_eq!(made.len(), 1, "{made:?}");
    let task = &made[0];
    assert_eq!(task.title, "pay rent");
    assert_eq!(task.tags, ["home"]);
    assert_eq!(task.priority(), pb::Priority::High);
    assert_eq!(task.time_zone, "Europe/Berlin");
    let tomorrow = Utc::now().with_timezone(&Berlin).date_naive() + chrono::Duration::days(1);
    let nine = Berlin
        .from_local_datetime(&tomorrow.and_hms_opt(9, 0, 0).unwrap())
        .earliest()
        .unwrap();
    assert_eq!(task.due_time.as_ref().unwrap().seconds, nine.timestamp());

    let text = body_text(&answer[0]);
    assert!(text.contains("Added: pay rent"), "{text}");
    assert!(
        text.contains(&nine.format("%a %-d %b %Y, 09:00").to_string()),
        "{text}"
    );
    assert!(
        text.contains("Tags: #home") && text.contains("Priority: high"),
        "{text}"
    );
    assert_eq!(first_button_id(&answer[0]), format!("undo:{}", task.id));
    assert_eq!(
        answer[0].body["interactive"]["action"]["buttons"][0]["reply"]["title"],
        "Undo"
    );

    // The same message acted on again (as after a crash before it was
    // finished): task-service answers the first task for its request id.
    sqlx::query("UPDATE inbound SET done_time = NULL, applied = false, next_try_time = now() WHERE kind = 'text'")
        .execute(&pair.pool)
        .await
        .unwrap();
    wait_answers(&pair, DIGITS, "interactive", 2).await;
    assert_eq!(tasks_of(&mut tasks).await.len(), 1);
}

#[tokio::test]
async fn undo_deletes_the_task_by_button_or_by_word() {
    let pair = spawn_end_to_end().await;
    pair.contact("alice", PHONE).await;
    let mut tasks = pair.tasks_client("alice").await;
    assert_eq!(pair.standin.user_writes(DIGITS, "water plants").await, 200);
    let answer = wait_answers(&pair, DIGITS, "interactive", 1).await;
    assert!(
        body_text(&answer[0]).contains("Due: none"),
        "{}",
        body_text(&answer[0])
    );
    assert_eq!(tasks_of(&mut tasks).await.len(), 1);
    assert_eq!(
        pair.standin
            .user_presses(DIGITS, &first_button_id(&answer[0]), false)
            .await,
        200
    );
    let removed = wait_answers(&pair, DIGITS, "text", 1).await;
    assert_eq!(body_text(&removed[0]), "Removed: water plants");
    assert!(tasks_of(&mut tasks).await.is_empty());

    assert_eq!(
        pair.standin
            .user_writes(DIGITS, "feed \"the 5th cat\" taxes 31 feb")
            .await,
        200
    );
    let answer = wait_answers(&pair, DIGITS, "interactive", 2).await;
    let text = body_text(&answer[1]);
    assert!(
        text.contains("Added: feed the 5th cat taxes 31 feb")
            && text.contains("\"31 feb\" is not a date"),
        "{text}"
    );
    assert_eq!(tasks_of(&mut tasks).await[0].due_time, None);
    assert_eq!(pair.standin.user_writes(DIGITS, "UNDO").await, 200);
    wait_answers(&pair, DIGITS, "text", 2).await;
    assert!(tasks_of(&mut tasks).await.is_empty());
    // Nothing left to undo.
    assert_eq!(pair.standin.user_writes(DIGITS, "undo").await, 200);
    let texts = wait_answers(&pair, DIGITS, "text", 3).await;
    assert_eq!(body_text(&texts[2]), "Nothing to undo.");
}

#[tokio::test]
async fn strangers_and_unconfirmed_numbers_get_no_task_and_one_answer_a_day() {
    let pair = spawn_end_to_end().await;
    let stranger = "14155550177";
    for text in ["buy milk tomorrow", "hello?", "today"] {
        assert_eq!(pair.standin.user_writes(stranger, text).await, 200);
    }
    // A number a user typed in but that has not confirmed.
    let mut client = pair.notifier_client("carol", Role::User).await;
    client
        .upsert_contact(pb::UpsertContactRequest {
            contact: Some(pb::Contact {
                user_id: "carol".into(),
                phone_number: "+14155550199".into(),
                time_zone: "Europe/Berlin".into(),
                whatsapp_opt_in: true,
                ..pb::Contact::default()
            }),
            confirmed: false,
        })
        .await
        .unwrap();
    assert_eq!(
        pair.standin
            .user_writes("14155550199", "pay rent tomorrow")
            .await,
        200
    );
    assert_eq!(
        pair.standin
            .user_writes("14155550199", "and call mom")
            .await,
        200
    );
    poll(WAIT, "all five messages handled", || async {
        inbound_done(&pair).await >= 5
    })
    .await;
    let told = answers(&pair, stranger, "text");
    assert_eq!(told.len(), 1);
    assert!(
        body_text(&told[0]).contains("not linked"),
        "{}",
        body_text(&told[0])
    );
    assert_eq!(answers(&pair, "14155550199", "text").len(), 1);
    let mut carol = pair.tasks_client("carol").await;
    assert!(tasks_of(&mut carol).await.is_empty());
    // Each message was still marked read.
    assert_eq!(pair.standin.reads().len(), 5);
}

#[tokio::test]
async fn a_number_makes_at_most_sixty_tasks_an_hour() {
    let pair = spawn_end_to_end().await;
    pair.contact("alice", PHONE).await;
    // Sixty messages of the last hour that each made a task.
    sqlx::query(
        "INSERT INTO inbound (key, provider, kind, from_number, reference, detail, applied, done_time) \
         SELECT 'meta:message:wamid.old' || i, 'meta', 'text', $1, gen_random_uuid()::text, 'x', \
                true, now() FROM generate_series(1, 60) AS i",
    )
    .bind(PHONE)
    .execute(&pair.pool)
    .await
    .unwrap();
    assert_eq!(pair.standin.user_writes(DIGITS, "one more").await, 200);
    let told = wait_answers(&pair, DIGITS, "text", 1).await;
    assert!(
        body_text(&told[0]).contains("60 tasks in the last hour"),
        "{}",
        body_text(&told[0])
    );
    let mut tasks = pair.tasks_client("alice").await;
    assert!(tasks_of(&mut tasks).await.is_empty());
}

#[tokio::test]
async fn an_answer_refused_for_the_pair_rate_or_a_busy_provider_is_sent_again_and_only_answers() {
    let pair = spawn_end_to_end().await;
    pair.contact("alice", PHONE).await;
    // WhatsApp refuses the first answer (a reminder to this number just
    // went: the pair rate) and fails the second (busy); the third is taken.
    pair.standin.inject(
        DIGITS,
        Fault::Error {
            http: 400,
            code: 131_056,
        },
    );
    pair.standin.inject(DIGITS, Fault::ServerError(503));
    assert_eq!(
        pair.standin
            .user_writes(DIGITS, "water the plants tomorrow")
            .await,
        200
    );

    let answer = wait_answers(&pair, DIGITS, "interactive", 1).await;
    let text = body_text(&answer[0]);
    assert!(text.contains("Added: water the plants"), "{text}");
    assert_eq!(pair.standin.refused(131_056), 1);
    assert_eq!(
        pair.standin.requests_to(DIGITS),
        3,
        "two refused, then the one taken"
    );
    poll(WAIT, "the message finished", || async {
        inbound_done(&pair).await == 1
    })
    .await;
    // A retry only answers: one task, not one per try.
    let mut tasks = pair.tasks_client("alice").await;
    let made = tasks_of(&mut tasks).await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(first_button_id(&answer[0]), format!("undo:{}", made[0].id));
}

#[tokio::test]
async fn a_message_whose_action_fails_is_tried_again_soon_and_holds_back_no_other() {
    let pair = spawn_end_to_end().await;
    pair.contact("alice", PHONE).await;
    // The database refuses to record one message's task as made (as a
    // dropped connection would, after task-service made it).
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ \
         BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER refuse BEFORE UPDATE ON inbound FOR EACH ROW \
         WHEN (NEW.applied AND NOT OLD.applied AND OLD.detail LIKE 'refused%') \
         EXECUTE FUNCTION refuse();",
    )
    .execute(&pair.pool)
    .await
    .unwrap();
    for text in ["refused one tomorrow", "buy milk tomorrow"] {
        assert_eq!(pair.standin.user_writes(DIGITS, text).await, 200);
    }
    // The other message is answered meanwhile (its 6-second slot after
    // the failed one's try is all it waits for).
    let answered = wait_answers(&pair, DIGITS, "interactive", 1).await;
    assert!(
        body_text(&answered[0]).contains("Added: buy milk"),
        "{}",
        body_text(&answered[0])
    );
    let tried: i32 =
        sqlx::query_scalar("SELECT attempts FROM inbound WHERE detail LIKE 'refused%'")
            .fetch_one(&pair.pool)
            .await
            .unwrap();
    assert!(tried >= 1);

    // Once the database takes it, it is finished well within its 30 s lease.
    sqlx::raw_sql("DROP TRIGGER refuse ON inbound")
        .execute(&pair.pool)
        .await
        .unwrap();
    poll(
        Duration::from_secs(20),
        "the refused message answered",
        || async {
            answers(&pair, DIGITS, "interactive")
                .iter()
                .any(|a| body_text(a).contains("Added: refused one"))
        },
    )
    .await;
    // Made once, however often it was tried.
    let mut tasks = pair.tasks_client("alice").await;
    let made = tasks_of(&mut tasks).await;
    assert_eq!(made.len(), 2, "{made:?}");
}
