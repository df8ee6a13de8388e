//! The flow JSON of DESIGN section 3, as serde types. Parsing checks the shape; `validate`
//! checks the meaning.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowDefinition {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub priority: i32,
    /// Shown as the bubble above the launcher when the flow triggers.
    #[serde(default)]
    pub welcome: Option<String>,
    #[serde(default)]
    pub trigger: Trigger,
    pub start: String,
    pub steps: BTreeMap<String, Step>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    #[serde(default)]
    pub when: When,
    #[serde(default, rename = "where")]
    pub where_: Where,
    #[serde(default)]
    pub audience: Audience,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default)]
    pub frequency: Frequency,
}

/// When the widget fires the flow (checked in the browser).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum When {
    Delay { seconds: u32 },
    Scroll { percent: u32 },
    ExitIntent,
    ReturningVisit,
    CustomEvent { name: String },
    ChatOpened,
}

impl Default for When {
    fn default() -> Self {
        Self::Delay { seconds: 0 }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    #[default]
    All,
    Any,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Where {
    #[serde(default, rename = "match")]
    pub match_: Match,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageField {
    Url,
    Title,
    Referrer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Equals,
    NotEquals,
    Contains,
    NotContains,
    StartsWith,
    Regex,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: PageField,
    pub op: Operator,
    pub value: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visitors {
    #[default]
    All,
    New,
    Returning,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    #[serde(default)]
    pub visitors: Visitors,
    #[serde(default)]
    pub min_visits: Option<u32>,
    /// Empty: every language.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Empty: every device (`desktop`, `mobile`, `tablet`).
    #[serde(default)]
    pub devices: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentsRule {
    #[default]
    Any,
    Online,
    Offline,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoursRule {
    #[default]
    Any,
    Inside,
    Outside,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(default)]
    pub agents: AgentsRule,
    #[serde(default)]
    pub business_hours: HoursRule,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    #[default]
    OncePerSession,
    OncePerVisitor,
    EveryPage,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Button {
    pub id: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One step of a flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    Message {
        text: String,
        #[serde(default)]
        buttons: Vec<Button>,
    },
    Collect {
        /// `email`, `phone`, `name` or `custom:<key>`.
        field: String,
        prompt: String,
        next: String,
    },
    Tag {
        tags: Vec<String>,
        next: String,
    },
    Handover {
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        context: BTreeMap<String, String>,
    },
    End {
        #[serde(default)]
        message: Option<String>,
    },
}

impl Step {
    /// The steps this one can lead to, with the path of the reference.
    pub fn successors(&self) -> Vec<(String, &str)> {
        match self {
            Step::Message { buttons, .. } => buttons
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    b.next
                        .as_deref()
                        .map(|next| (format!("buttons[{i}].next"), next))
                })
                .collect(),
            Step::Collect { next, .. } | Step::Tag { next, .. } => {
                vec![("next".to_owned(), next.as_str())]
            }
            Step::Handover { .. } | Step::End { .. } => Vec::new(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Step::Message { .. } => "message",
            Step::Collect { .. } => "collect",
            Step::Tag { .. } => "tag",
            Step::Handover { .. } => "handover",
            Step::End { .. } => "end",
        }
    }
}
