//! The flow interpreter: `advance(flow, state, event) -> (state, actions)`, a pure function.
//! The caller stores the state with the conversation and carries out the actions (send the
//! bot's messages, store collected fields, tag, hand over, resolve).

use super::definition::{Button, FlowDefinition, Step};
use crate::domain::{email::EmailAddress, user::DisplayName, visitor::parse_phone};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a flow run stands in one conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// The step waiting for the visitor (a message's buttons or a collect's answer).
    pub current: Option<String>,
    /// The visitor clicked a button or answered a question.
    pub interacted: bool,
    /// The run ended (an `end` or `handover` step, or the visitor typed instead of clicking).
    pub finished: bool,
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The flow was triggered: show the welcome and the first step.
    Start,
    /// The visitor clicked a button (of `step_id`, when the widget says which).
    Choose {
        step_id: Option<&'a str>,
        button_id: &'a str,
    },
    /// The visitor typed.
    Text(&'a str),
}

/// Why a handover happened (the outcome "Escalated to human" either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoverReason {
    /// A `handover` step ran.
    Step,
    /// The visitor typed while the bot waited for a click.
    VisitorTyped,
}

/// What the caller must do, in order. Serialized (tagged by `type`) for the editor's preview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// The flow's welcome, shown above the launcher.
    Welcome { text: String },
    /// A bot message with its buttons (a `message` step).
    Say {
        step_id: String,
        text: String,
        buttons: Vec<Button>,
    },
    /// A `collect` step's question.
    Prompt { step_id: String, text: String },
    /// The answer was invalid: ask again, saying why.
    Reprompt {
        step_id: String,
        text: String,
        reason: String,
    },
    /// The visitor clicked this button (recorded for insights).
    Clicked {
        step_id: String,
        button_id: String,
        label: String,
    },
    /// Store a collected value on the contact (`email`, `phone`, `name`, `custom:<key>`).
    Store { field: String, value: String },
    /// Tag the conversation (a `tag` step).
    Tag { step_id: String, tags: Vec<String> },
    /// Hand the conversation to people, with the step's context variables (the `handover`
    /// step's id; none when the visitor typed).
    Handover {
        step_id: Option<String>,
        message: Option<String>,
        context: BTreeMap<String, String>,
        reason: HandoverReason,
    },
    /// Resolve the conversation (an `end` step).
    End {
        step_id: String,
        message: Option<String>,
    },
}

/// Why an event was refused; the state is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The run ended or never started: a typed message is a normal message then.
    NotRunning,
    /// A button of a step that is no longer the current one (`error` `stale_button`).
    StaleButton,
    /// No step of this flow has this button.
    UnknownButton,
    /// The run already started.
    AlreadyStarted,
}

/// Advances a run by one event.
pub fn advance(
    flow: &FlowDefinition,
    state: &RunState,
    event: Event<'_>,
) -> Result<(RunState, Vec<Action>), Refusal> {
    let mut next = state.clone();
    let mut actions = Vec::new();
    match event {
        Event::Start => {
            if state.current.is_some() || state.finished || state.interacted {
                return Err(Refusal::AlreadyStarted);
            }
            if let Some(welcome) = &flow.welcome {
                actions.push(Action::Welcome {
                    text: welcome.clone(),
                });
            }
            enter(flow, &flow.start, &mut next, &mut actions);
        }
        Event::Choose { step_id, button_id } => {
            let current = running_step(state)?;
            if step_id.is_some_and(|id| id != current) {
                return Err(Refusal::StaleButton);
            }
            let Some(Step::Message { buttons, .. }) = flow.steps.get(current) else {
                return Err(belongs_elsewhere(flow, button_id));
            };
            let Some(button) = buttons.iter().find(|b| b.id == button_id) else {
                return Err(belongs_elsewhere(flow, button_id));
            };
            next.interacted = true;
            actions.push(Action::Clicked {
                step_id: current.to_owned(),
                button_id: button.id.clone(),
                label: button.label.clone(),
            });
            if let Some(target) = &button.next {
                enter(flow, target, &mut next, &mut actions);
            }
        }
        Event::Text(text) => {
            let current = running_step(state)?;
            match flow.steps.get(current) {
                Some(Step::Collect {
                    field,
                    prompt,
                    next: target,
                }) => match check_answer(field, text) {
                    Ok(value) => {
                        next.interacted = true;
                        actions.push(Action::Store {
                            field: field.clone(),
                            value,
                        });
                        enter(flow, target, &mut next, &mut actions);
                    }
                    Err(reason) => actions.push(Action::Reprompt {
                        step_id: current.to_owned(),
                        text: prompt.clone(),
                        reason,
                    }),
                },
                _ => {
                    next.current = None;
                    next.finished = true;
                    actions.push(Action::Handover {
                        step_id: None,
                        message: None,
                        context: BTreeMap::new(),
                        reason: HandoverReason::VisitorTyped,
                    });
                }
            }
        }
    }
    Ok((next, actions))
}

fn running_step(state: &RunState) -> Result<&str, Refusal> {
    match (&state.current, state.finished) {
        (Some(current), false) => Ok(current),
        _ => Err(Refusal::NotRunning),
    }
}

fn belongs_elsewhere(flow: &FlowDefinition, button_id: &str) -> Refusal {
    let known = flow
        .steps
        .values()
        .any(|step| matches!(step, Step::Message { buttons, .. } if buttons.iter().any(|b| b.id == button_id)));
    if known {
        Refusal::StaleButton
    } else {
        Refusal::UnknownButton
    }
}

/// Validates an answer to a `collect` step; answers the value to store or why it is refused.
fn check_answer(field: &str, text: &str) -> Result<String, String> {
    let text = text.trim();
    match field {
        "email" => EmailAddress::parse("email", text)
            .map(|email| email.as_str().to_owned())
            .map_err(|_| "That does not look like an email address.".to_owned()),
        "phone" => parse_phone("phone", text)
            .map_err(|_| "That does not look like a phone number.".to_owned()),
        "name" => DisplayName::parse("name", text)
            .map(|name| name.as_str().to_owned())
            .map_err(|_| "Please write your name (up to 80 characters).".to_owned()),
        _ if text.is_empty() || text.chars().count() > 1_000 => {
            Err("Please write an answer (up to 1000 characters).".to_owned())
        }
        _ => Ok(text.to_owned()),
    }
}

/// Enters `step_id` and runs on through steps that need no visitor (tags) until one waits
/// or the run ends. Validation refuses circles of tag steps; the hop limit makes sure.
fn enter(flow: &FlowDefinition, step_id: &str, state: &mut RunState, actions: &mut Vec<Action>) {
    let mut id = step_id.to_owned();
    for _ in 0..=flow.steps.len() {
        let Some(step) = flow.steps.get(&id) else {
            break;
        };
        match step {
            Step::Message { text, buttons } => {
                actions.push(Action::Say {
                    step_id: id.clone(),
                    text: text.clone(),
                    buttons: buttons.clone(),
                });
                state.current = Some(id);
                return;
            }
            Step::Collect { prompt, .. } => {
                actions.push(Action::Prompt {
                    step_id: id.clone(),
                    text: prompt.clone(),
                });
                state.current = Some(id);
                return;
            }
            Step::Tag { tags, next } => {
                actions.push(Action::Tag {
                    step_id: id.clone(),
                    tags: tags.clone(),
                });
                id = next.clone();
            }
            Step::Handover { message, context } => {
                actions.push(Action::Handover {
                    step_id: Some(id.clone()),
                    message: message.clone(),
                    context: context.clone(),
                    reason: HandoverReason::Step,
                });
                break;
            }
            Step::End { message } => {
                actions.push(Action::End {
                    step_id: id.clone(),
                    message: message.clone(),
                });
                break;
            }
        }
    }
    state.current = None;
    state.finished = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::flow::validate::parse;
    use serde_json::json;

    fn flow() -> FlowDefinition {
        parse(&json!({
            "name": "Support", "welcome": "Hi!", "start": "menu",
            "steps": {
                "menu": {"type": "message", "text": "What do you need?", "buttons": [
                    {"id": "price", "label": "Pricing", "next": "tagit"},
                    {"id": "mail", "label": "Email me", "next": "email"},
                    {"id": "human", "label": "Talk to a person", "next": "handover"},
                    {"id": "docs", "label": "Docs", "url": "https://example.com/docs"}]},
                "tagit": {"type": "tag", "tags": ["pricing"], "next": "pricing"},
                "pricing": {"type": "message", "text": "Plans start at 19.", "buttons": [
                    {"id": "back", "label": "Back", "next": "menu"},
                    {"id": "done", "label": "That helped", "next": "bye"}]},
                "email": {"type": "collect", "field": "email", "prompt": "Your email?", "next": "handover"},
                "handover": {"type": "handover", "message": "Connecting you.", "context": {"topic": "sales"}},
                "bye": {"type": "end", "message": "Glad I could help!"}
            }
        }))
        .expect("valid flow")
    }

    fn run(events: &[Event<'_>]) -> (RunState, Vec<Action>) {
        let flow = flow();
        let mut state = RunState::default();
        let mut all = Vec::new();
        for event in events {
            let (next, actions) = advance(&flow, &state, *event).expect("accepted");
            state = next;
            all.extend(actions);
        }
        (state, all)
    }

    fn choose(button_id: &str) -> Event<'_> {
        Event::Choose {
            step_id: None,
            button_id,
        }
    }

    #[test]
    fn starting_shows_the_welcome_and_the_first_step_without_an_interaction() {
        let (state, actions) = run(&[Event::Start]);
        assert!(matches!(&actions[0], Action::Welcome { text } if text == "Hi!"));
        assert!(
            matches!(&actions[1], Action::Say { step_id, buttons, .. } if step_id == "menu" && buttons.len() == 4)
        );
        assert_eq!(
            state,
            RunState {
                current: Some("menu".into()),
                interacted: false,
                finished: false
            }
        );
        assert_eq!(
            advance(&flow(), &state, Event::Start),
            Err(Refusal::AlreadyStarted)
        );
    }

    #[test]
    fn a_click_runs_tag_steps_through_to_the_next_message_and_back_buttons_loop() {
        let (state, actions) = run(&[
            Event::Start,
            choose("price"),
            choose("back"),
            choose("price"),
        ]);
        let tags = actions
            .iter()
            .filter(|a| matches!(a, Action::Tag { tags, step_id } if tags == &["pricing"] && step_id == "tagit"))
            .count();
        assert_eq!(tags, 2);
        assert_eq!(state.current.as_deref(), Some("pricing"));
        assert!(state.interacted && !state.finished);
    }

    #[test]
    fn an_end_step_finishes_the_run() {
        let (state, actions) = run(&[Event::Start, choose("price"), choose("done")]);
        assert!(
            matches!(actions.last(), Some(Action::End { message: Some(m), step_id }) if m == "Glad I could help!" && step_id == "bye")
        );
        assert!(state.finished && state.current.is_none());
    }

    #[test]
    fn a_handover_step_carries_its_context() {
        let (state, actions) = run(&[Event::Start, choose("human")]);
        match actions.last() {
            Some(Action::Handover {
                context, reason, ..
            }) => {
                assert_eq!(context.get("topic").map(String::as_str), Some("sales"));
                assert_eq!(*reason, HandoverReason::Step);
            }
            other => panic!("expected a handover, got {other:?}"),
        }
        assert!(state.finished && state.interacted);
    }

    #[test]
    fn collect_reprompts_invalid_answers_and_stores_valid_ones() {
        let flow = flow();
        let (state, _) = run(&[Event::Start, choose("mail")]);
        let (same, actions) =
            advance(&flow, &state, Event::Text("not an email")).expect("accepted");
        assert_eq!(same, state);
        assert!(matches!(&actions[0], Action::Reprompt { step_id, .. } if step_id == "email"));
        let (after, actions) =
            advance(&flow, &state, Event::Text(" Eva@Example.com ")).expect("accepted");
        assert_eq!(
            actions[0],
            Action::Store {
                field: "email".into(),
                value: "eva@example.com".into()
            }
        );
        assert!(matches!(
            actions[1],
            Action::Handover {
                reason: HandoverReason::Step,
                ..
            }
        ));
        assert!(after.finished);
    }

    #[test]
    fn typing_instead_of_clicking_escalates_and_a_finished_run_refuses() {
        let flow = flow();
        let (state, _) = run(&[Event::Start]);
        let (after, actions) =
            advance(&flow, &state, Event::Text("can I talk to someone")).expect("accepted");
        assert!(matches!(
            actions[0],
            Action::Handover {
                reason: HandoverReason::VisitorTyped,
                ..
            }
        ));
        assert!(
            after.finished && !after.interacted,
            "typing is not a bot interaction"
        );
        assert_eq!(
            advance(&flow, &after, Event::Text("hello?")),
            Err(Refusal::NotRunning)
        );
        assert_eq!(
            advance(&flow, &after, choose("price")),
            Err(Refusal::NotRunning)
        );
    }

    #[test]
    fn stale_and_unknown_buttons_are_refused_without_changing_state() {
        let flow = flow();
        let (state, _) = run(&[Event::Start, choose("price")]);
        assert_eq!(
            advance(&flow, &state, choose("human")),
            Err(Refusal::StaleButton),
            "a button of the menu"
        );
        assert_eq!(
            advance(
                &flow,
                &state,
                Event::Choose {
                    step_id: Some("menu"),
                    button_id: "back"
                }
            ),
            Err(Refusal::StaleButton)
        );
        assert_eq!(
            advance(&flow, &state, choose("nope")),
            Err(Refusal::UnknownButton)
        );
        assert_eq!(
            advance(&flow, &RunState::default(), choose("price")),
            Err(Refusal::NotRunning)
        );
    }

    proptest::proptest! {
        /// Whatever a visitor does, in any order: no panic, the state always names a real
        /// step or none, a finished run refuses everything, and an interaction is never undone.
        #[test]
        fn any_sequence_of_events_keeps_the_run_consistent(
            events in proptest::collection::vec((0usize..9, "[a-z@. ]{0,12}"), 0..40)
        ) {
            const BUTTONS: [&str; 8] = ["price", "mail", "human", "docs", "back", "done", "nope", ""];
            let flow = flow();
            let mut state = RunState::default();
            for (choice, text) in &events {
                let event = match choice {
                    8 => Event::Text(text),
                    7 => Event::Start,
                    n => Event::Choose { step_id: None, button_id: BUTTONS[*n] },
                };
                if let Ok((next, _)) = advance(&flow, &state, event) {
                    proptest::prop_assert!(!state.interacted || next.interacted, "an interaction is never undone");
                    proptest::prop_assert!(!state.finished || next.finished, "a finished run stays finished");
                    state = next;
                }
                if let Some(current) = &state.current {
                    proptest::prop_assert!(flow.steps.contains_key(current));
                    proptest::prop_assert!(!state.finished);
                }
                if state.finished {
                    proptest::prop_assert!(advance(&flow, &state, Event::Text("x")).is_err());
                }
            }
        }
    }

    #[test]
    fn a_url_button_is_recorded_and_keeps_the_step() {
        let (state, actions) = run(&[Event::Start, choose("docs")]);
        assert!(
            matches!(actions.last(), Some(Action::Clicked { button_id, .. }) if button_id == "docs")
        );
        assert_eq!(state.current.as_deref(), Some("menu"));
        assert!(state.interacted);
    }
}
