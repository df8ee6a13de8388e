//! Routing rules (DESIGN section 4): ordered conditions on a conversation's context
//! variables, page URL and language, each leading to a team; the first rule that matches
//! wins, and with none the account's default team takes the conversation. Pure functions.

use super::{
    FieldError,
    flow::{
        definition::{Match, Operator},
        targeting::operator_holds,
    },
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most conditions in one rule.
pub const MAX_CONDITIONS: usize = 20;

/// One condition: `field` is `url`, `language` or `context.<key>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCondition {
    pub field: String,
    #[schema(value_type = String, example = "equals")]
    pub op: Operator,
    pub value: String,
}

/// A rule as stored and as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub match_: Match,
    pub conditions: Vec<RuleCondition>,
    pub team_id: uuid::Uuid,
    /// New conversations matching the rule go to this external bot first.
    pub bot_id: Option<uuid::Uuid>,
}

/// What routing knows about a conversation.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub url: String,
    pub language: String,
    /// Context variables: the visitor's `identify` variables and group, then (winning) the
    /// bot's `handover` context.
    pub context: BTreeMap<String, String>,
}

fn holds(condition: &RuleCondition, facts: &Facts) -> bool {
    let subject = match condition.field.as_str() {
        "url" => facts.url.as_str(),
        "language" => facts.language.as_str(),
        field => match field.strip_prefix("context.") {
            Some(key) => facts.context.get(key).map(String::as_str).unwrap_or(""),
            None => return false,
        },
    };
    operator_holds(condition.op, subject, &condition.value)
}

/// The first rule that matches; none when no rule does.
pub fn first_match<'a>(rules: &'a [Rule], facts: &Facts) -> Option<&'a Rule> {
    rules.iter().find(|rule| match rule.match_ {
        Match::All => rule.conditions.iter().all(|c| holds(c, facts)),
        Match::Any => rule.conditions.iter().any(|c| holds(c, facts)),
    })
}

/// The team of the first rule that matches; none when no rule does.
pub fn route(rules: &[Rule], facts: &Facts) -> Option<uuid::Uuid> {
    first_match(rules, facts).map(|rule| rule.team_id)
}

/// Checks a rule's conditions; every problem at once, with its path.
pub fn validate(conditions: &[RuleCondition]) -> Result<(), Vec<FieldError>> {
    let mut problems = Vec::new();
    if conditions.is_empty() {
        problems.push(FieldError::new(
            "conditions",
            "a rule needs at least one condition",
        ));
    }
    if conditions.len() > MAX_CONDITIONS {
        problems.push(FieldError::new(
            "conditions",
            format!("at most {MAX_CONDITIONS} conditions"),
        ));
    }
    for (i, condition) in conditions.iter().enumerate() {
        let known = matches!(condition.field.as_str(), "url" | "language")
            || condition
                .field
                .strip_prefix("context.")
                .is_some_and(|key| !key.is_empty() && key.len() <= 64);
        if !known {
            problems.push(FieldError::new(
                format!("conditions[{i}].field"),
                "must be url, language or context.<key>",
            ));
        }
        if condition.value.chars().count() > 500 {
            problems.push(FieldError::new(
                format!("conditions[{i}].value"),
                "at most 500 characters",
            ));
        }
        if condition.op == Operator::Regex && regex::Regex::new(&condition.value).is_err() {
            problems.push(FieldError::new(
                format!("conditions[{i}].value"),
                "is not a valid regular expression",
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(conditions: &[(&str, Operator, &str)], match_: Match, team: u128) -> Rule {
        Rule {
            match_,
            conditions: conditions
                .iter()
                .map(|(field, op, value)| RuleCondition {
                    field: (*field).to_owned(),
                    op: *op,
                    value: (*value).to_owned(),
                })
                .collect(),
            team_id: uuid::Uuid::from_u128(team),
            bot_id: None,
        }
    }

    fn facts(url: &str, language: &str, context: &[(&str, &str)]) -> Facts {
        Facts {
            url: url.to_owned(),
            language: language.to_owned(),
            context: context
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_none_means_the_default() {
        let rules = [
            rule(
                &[("context.topic", Operator::Equals, "sales")],
                Match::All,
                1,
            ),
            rule(&[("language", Operator::StartsWith, "cs")], Match::All, 2),
            rule(&[("url", Operator::Contains, "/pricing")], Match::All, 3),
        ];
        let team = |f: &Facts| route(&rules, f).map(|id| id.as_u128());
        assert_eq!(
            team(&facts("https://x/pricing", "cs", &[("topic", "sales")])),
            Some(1)
        );
        assert_eq!(team(&facts("https://x/pricing", "cs-CZ", &[])), Some(2));
        assert_eq!(team(&facts("https://x/pricing", "en", &[])), Some(3));
        assert_eq!(
            team(&facts("https://x/", "en", &[("topic", "support")])),
            None
        );
    }

    #[test]
    fn all_and_any_and_missing_context_keys() {
        let all = [rule(
            &[
                ("url", Operator::Contains, "/b2b"),
                ("context.plan", Operator::Equals, "pro"),
            ],
            Match::All,
            7,
        )];
        assert_eq!(route(&all, &facts("https://x/b2b", "en", &[])), None);
        assert!(route(&all, &facts("https://x/b2b", "en", &[("plan", "pro")])).is_some());
        let any = [rule(
            &[
                ("url", Operator::Contains, "/b2b"),
                ("context.plan", Operator::Equals, "pro"),
            ],
            Match::Any,
            7,
        )];
        assert!(route(&any, &facts("https://x/b2b", "en", &[])).is_some());
    }

    #[test]
    fn validation_names_every_problem() {
        let bad = [
            RuleCondition {
                field: "colour".into(),
                op: Operator::Equals,
                value: "x".into(),
            },
            RuleCondition {
                field: "context.".into(),
                op: Operator::Regex,
                value: "(".into(),
            },
        ];
        let problems = validate(&bad).expect_err("invalid");
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "conditions[0].field",
                "conditions[1].field",
                "conditions[1].value"
            ]
        );
        assert!(validate(&[]).is_err());
    }
}
