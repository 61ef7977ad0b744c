//! The Cloud API's checks on a message body, as the stand-in applies them:
//! each failure is the error code and words WhatsApp answers with.

use serde_json::Value;

/// A refusal: Graph error code and message.
pub type Refusal = (i64, String);

fn refuse(code: i64, message: impl Into<String>) -> Refusal {
    (code, message.into())
}

fn text_len(value: &Value) -> usize {
    value.as_str().map_or(0, |s| s.chars().count())
}

/// Checks a `/messages` body; returns its recipient and type.
/// `templates`: the approved templates, each with its number of body
/// parameters.
pub fn check_message(
    body: &Value,
    templates: &[(&str, usize)],
) -> Result<(String, String), Refusal> {
    if body["messaging_product"] != "whatsapp" {
        return Err(refuse(
            100,
            "(#100) The parameter messaging_product is required.",
        ));
    }
    let to = body["to"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('+');
    if !(8..=15).contains(&to.len()) || !to.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse(100, "(#100) Invalid parameter: to"));
    }
    let kind = body["type"].as_str().unwrap_or("text");
    match kind {
        "template" => check_template(&body["template"], templates)?,
        "interactive" => check_interactive(&body["interactive"])?,
        "reaction" => {
            let id = body["reaction"]["message_id"].as_str().unwrap_or_default();
            if !id.starts_with("wamid.") || text_len(&body["reaction"]["emoji"]) == 0 {
                return Err(refuse(
                    131_009,
                    "(#131009) Parameter value is not valid: reaction",
                ));
            }
        }
        "text" => {
            let n = text_len(&body["text"]["body"]);
            if n == 0 || n > 4096 {
                return Err(refuse(
                    131_009,
                    "(#131009) Parameter value is not valid: text.body",
                ));
            }
        }
        other => {
            return Err(refuse(
                131_009,
                format!("(#131009) Unsupported message type {other}"),
            ))
        }
    }
    Ok((to.to_owned(), kind.to_owned()))
}

fn check_template(template: &Value, templates: &[(&str, usize)]) -> Result<(), Refusal> {
    let Some(&(_, expected)) = templates.iter().find(|(name, _)| template["name"] == *name) else {
        return Err(refuse(
            132_001,
            "(#132001) Template name does not exist in the translation",
        ));
    };
    if text_len(&template["language"]["code"]) == 0 {
        return Err(refuse(
            131_008,
            "(#131008) Required parameter is missing: template.language.code",
        ));
    }
    let components = template["components"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let body: Vec<&Value> = components.iter().filter(|c| c["type"] == "body").collect();
    let [body] = body.as_slice() else {
        return Err(refuse(
            132_000,
            "(#132000) Number of parameters does not match the expected number of params",
        ));
    };
    let parameters = body["parameters"].as_array().cloned().unwrap_or_default();
    if parameters.len() != expected {
        return Err(refuse(
            132_000,
            "(#132000) Number of parameters does not match the expected number of params",
        ));
    }
    for parameter in &parameters {
        let n = text_len(&parameter["text"]);
        if parameter["type"] != "text" || n == 0 || n > 1024 {
            return Err(refuse(
                131_009,
                "(#131009) Parameter value is not valid: body text",
            ));
        }
    }
    let mut indexes = Vec::new();
    for button in components.iter().filter(|c| c["type"] == "button") {
        let payload = &button["parameters"][0];
        let n = text_len(&payload["payload"]);
        if button["sub_type"] != "quick_reply" || payload["type"] != "payload" || n == 0 || n > 256
        {
            return Err(refuse(
                131_009,
                "(#131009) Parameter value is not valid: quick reply payload",
            ));
        }
        indexes.push(button["index"].as_str().unwrap_or_default().to_owned());
    }
    if indexes != ["0", "1"] {
        return Err(refuse(
            132_000,
            "(#132000) The template has two quick-reply buttons, index 0 and 1",
        ));
    }
    Ok(())
}

fn check_interactive(interactive: &Value) -> Result<(), Refusal> {
    if interactive["type"] == "list" {
        return check_list(interactive);
    }
    if interactive["type"] != "button" {
        return Err(refuse(
            131_009,
            "(#131009) interactive.type must be button or list",
        ));
    }
    let n = text_len(&interactive["body"]["text"]);
    if n == 0 || n > 1024 {
        return Err(refuse(
            131_009,
            "(#131009) interactive.body.text must be 1 to 1024 characters",
        ));
    }
    let buttons = interactive["action"]["buttons"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if buttons.is_empty() || buttons.len() > 3 {
        return Err(refuse(131_009, "(#131009) 1 to 3 buttons"));
    }
    let mut ids = std::collections::HashSet::new();
    let mut titles = std::collections::HashSet::new();
    for button in &buttons {
        let id = button["reply"]["id"].as_str().unwrap_or_default();
        let title = button["reply"]["title"].as_str().unwrap_or_default();
        let id_ok = (1..=256).contains(&id.chars().count());
        let title_ok = (1..=20).contains(&title.chars().count());
        if button["type"] != "reply"
            || !id_ok
            || !title_ok
            || !ids.insert(id)
            || !titles.insert(title)
        {
            return Err(refuse(
                131_009,
                "(#131009) reply buttons need unique ids (≤256) and titles (≤20)",
            ));
        }
    }
    Ok(())
}

/// A list message: body ≤ 4,096, button ≤ 20, 1 to 10 rows in all, each
/// with a unique id (≤ 200), a title (≤ 24) and a description (≤ 72).
fn check_list(interactive: &Value) -> Result<(), Refusal> {
    let invalid = |what: &str| {
        refuse(
            131_009,
            format!("(#131009) Parameter value is not valid: {what}"),
        )
    };
    let n = text_len(&interactive["body"]["text"]);
    if n == 0 || n > 4096 {
        return Err(invalid("interactive.body.text"));
    }
    let button = text_len(&interactive["action"]["button"]);
    if button == 0 || button > 20 {
        return Err(invalid("interactive.action.button"));
    }
    let sections = interactive["action"]["sections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if sections.is_empty() || sections.len() > 10 {
        return Err(invalid("interactive.action.sections"));
    }
    let mut ids = std::collections::HashSet::new();
    for section in &sections {
        if text_len(&section["title"]) > 24 {
            return Err(invalid("section title"));
        }
        for row in section["rows"].as_array().cloned().unwrap_or_default() {
            let id = row["id"].as_str().unwrap_or_default().to_owned();
            let title = text_len(&row["title"]);
            if !(1..=200).contains(&id.chars().count())
                || !(1..=24).contains(&title)
                || text_len(&row["description"]) > 72
                || !ids.insert(id)
            {
                return Err(invalid("row"));
            }
        }
    }
    if ids.is_empty() || ids.len() > 10 {
        return Err(invalid("rows: 1 to 10 in all"));
    }
    Ok(())
}
