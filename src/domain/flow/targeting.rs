//! Who a flow is for: the server's check of `where`, `audience`, `schedule` and `frequency`
//! (DESIGN section 3) against the visitor's page, profile and history. Pure functions.

use super::definition::{
    AgentsRule, Audience, Condition, FlowDefinition, Frequency, HoursRule, Match, Operator,
    PageField, Schedule, Visitors, Where,
};

use regex::{Regex, RegexBuilder};
use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex, PoisonError},
};

/// Most enabled flows an account may have: every page view checks each of them.
pub const MAX_ENABLED_FLOWS: usize = 50;

/// Largest compiled pattern of a `regex` condition (validation uses the same bound).
const REGEX_SIZE_LIMIT: usize = 64 * 1024;

/// What the server knows about the visitor when deciding.
#[derive(Clone, Debug, Default)]
pub struct Visit<'a> {
    pub url: &'a str,
    pub title: &'a str,
    pub referrer: &'a str,
    /// Visits so far, this one included.
    pub visit_count: u32,
    pub language: Option<&'a str>,
    pub device: Option<&'a str>,
    pub agents_online: bool,
    pub inside_business_hours: bool,
}

/// When this flow last triggered for this visitor.
#[derive(Clone, Copy, Debug, Default)]
pub struct History {
    pub this_page: bool,
    pub this_session: bool,
    pub ever: bool,
}

fn condition_holds(condition: &Condition, visit: &Visit<'_>) -> bool {
    let subject = match condition.field {
        PageField::Url => visit.url,
        PageField::Title => visit.title,
        PageField::Referrer => visit.referrer,
    };
    operator_holds(condition.op, subject, &condition.value)
}

/// Whether `subject` satisfies `op` with `value` (also used by routing rules).
pub fn operator_holds(op: Operator, subject: &str, value: &str) -> bool {
    match op {
        Operator::Equals => subject == value,
        Operator::NotEquals => subject != value,
        Operator::Contains => subject.contains(value),
        Operator::NotContains => !subject.contains(value),
        Operator::StartsWith => subject.starts_with(value),
        Operator::Regex => compiled(value).is_some_and(|pattern| pattern.is_match(subject)),
    }
}

/// Distinct patterns kept compiled. Each account's enabled flows hold at most
/// `MAX_ENABLED_FLOWS × MAX_CONDITIONS` patterns, and routing rules a few more; when the
/// cache is full it starts again (a burst of recompiling, never unbounded memory).
const COMPILED_PATTERNS: usize = 4096;

type Patterns = HashMap<String, Option<Arc<Regex>>>;

/// The pattern compiled once for the process and shared (flows are checked on every page
/// view; compiling 100 patterns each time cost 0.6 s per page view). `None`: not a valid
/// pattern (validation refuses those when a flow or rule is saved).
pub fn compiled(pattern: &str) -> Option<Arc<Regex>> {
    static CACHE: LazyLock<Mutex<Patterns>> = LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = cache.get(pattern) {
        return found.clone();
    }
    let built = RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .ok()
        .map(Arc::new);
    if cache.len() >= COMPILED_PATTERNS {
        cache.clear();
    }
    cache.insert(pattern.to_owned(), built.clone());
    built
}

/// `where`: all (or any) conditions hold; no conditions means every page.
pub fn page_matches(rule: &Where, visit: &Visit<'_>) -> bool {
    if rule.conditions.is_empty() {
        return true;
    }
    match rule.match_ {
        Match::All => rule.conditions.iter().all(|c| condition_holds(c, visit)),
        Match::Any => rule.conditions.iter().any(|c| condition_holds(c, visit)),
    }
}

/// `en` matches `en` and `en-us`; an empty list matches every language.
fn language_matches(languages: &[String], language: Option<&str>) -> bool {
    if languages.is_empty() {
        return true;
    }
    let Some(language) = language.map(str::to_lowercase) else {
        return false;
    };
    languages.iter().any(|wanted| {
        let wanted = wanted.to_lowercase();
        language == wanted || language.starts_with(&format!("{wanted}-"))
    })
}

pub fn audience_matches(audience: &Audience, visit: &Visit<'_>) -> bool {
    let visitors = match audience.visitors {
        Visitors::All => true,
        Visitors::New => visit.visit_count <= 1,
        Visitors::Returning => visit.visit_count > 1,
    };
    let visits = audience
        .min_visits
        .is_none_or(|min| visit.visit_count >= min);
    let device = audience.devices.is_empty()
        || visit
            .device
            .is_some_and(|d| audience.devices.iter().any(|w| w == d));
    visitors && visits && device && language_matches(&audience.languages, visit.language)
}

pub fn schedule_matches(schedule: &Schedule, visit: &Visit<'_>) -> bool {
    let agents = match schedule.agents {
        AgentsRule::Any => true,
        AgentsRule::Online => visit.agents_online,
        AgentsRule::Offline => !visit.agents_online,
    };
    let hours = match schedule.business_hours {
        HoursRule::Any => true,
        HoursRule::Inside => visit.inside_business_hours,
        HoursRule::Outside => !visit.inside_business_hours,
    };
    agents && hours
}

pub fn frequency_allows(frequency: Frequency, history: History) -> bool {
    match frequency {
        Frequency::EveryPage => !history.this_page,
        Frequency::OncePerSession => !history.this_session,
        Frequency::OncePerVisitor => !history.ever,
    }
}

/// Whether the flow may trigger for this visit (quota is checked separately).
pub fn eligible(flow: &FlowDefinition, visit: &Visit<'_>, history: History) -> bool {
    flow.enabled
        && page_matches(&flow.trigger.where_, visit)
        && audience_matches(&flow.trigger.audience, visit)
        && schedule_matches(&flow.trigger.schedule, visit)
        && frequency_allows(flow.trigger.frequency, history)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_is_compiled_once_and_shared_and_an_invalid_one_never_matches() {
        let first = compiled(r"^/shop/[0-9]+$").expect("valid");
        let again = compiled(r"^/shop/[0-9]+$").expect("valid");
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second check reuses the compiled pattern"
        );
        assert!(compiled("(").is_none());
        assert!(!operator_holds(Operator::Regex, "(", "("));
    }

    fn visit() -> Visit<'static> {
        Visit {
            url: "https://shop.example.com/pricing?plan=pro",
            title: "Pricing – Acme",
            referrer: "https://www.google.com/search?q=acme",
            visit_count: 1,
            language: Some("en-US"),
            device: Some("desktop"),
            agents_online: true,
            inside_business_hours: true,
        }
    }

    fn condition(field: PageField, op: Operator, value: &str) -> Condition {
        Condition {
            field,
            op,
            value: value.to_owned(),
        }
    }

    #[test]
    fn every_operator_on_every_field() {
        let v = visit();
        let cases = [
            (
                PageField::Url,
                Operator::Equals,
                "https://shop.example.com/pricing?plan=pro",
                true,
            ),
            (
                PageField::Url,
                Operator::Equals,
                "https://shop.example.com/pricing",
                false,
            ),
            (
                PageField::Url,
                Operator::NotEquals,
                "https://shop.example.com/",
                true,
            ),
            (PageField::Url, Operator::Contains, "/pricing", true),
            (PageField::Url, Operator::NotContains, "/pricing", false),
            (PageField::Url, Operator::StartsWith, "https://shop.", true),
            (PageField::Url, Operator::Regex, r"plan=(pro|plus)$", true),
            (PageField::Url, Operator::Regex, r"^http://", false),
            (PageField::Title, Operator::Contains, "Pricing", true),
            (PageField::Title, Operator::Equals, "Home", false),
            (
                PageField::Referrer,
                Operator::StartsWith,
                "https://www.google.",
                true,
            ),
            (PageField::Referrer, Operator::Regex, r"q=acme", true),
            (PageField::Referrer, Operator::NotContains, "bing", true),
            (PageField::Url, Operator::Regex, "(", false),
        ];
        for (field, op, value, expected) in cases {
            assert_eq!(
                condition_holds(&condition(field, op, value), &v),
                expected,
                "{field:?} {op:?} {value}"
            );
        }
    }

    #[test]
    fn all_needs_every_condition_and_any_needs_one() {
        let v = visit();
        let conditions = vec![
            condition(PageField::Url, Operator::Contains, "/pricing"),
            condition(PageField::Title, Operator::Contains, "Checkout"),
        ];
        assert!(!page_matches(
            &Where {
                match_: Match::All,
                conditions: conditions.clone()
            },
            &v
        ));
        assert!(page_matches(
            &Where {
                match_: Match::Any,
                conditions
            },
            &v
        ));
        assert!(
            page_matches(&Where::default(), &v),
            "no conditions: every page"
        );
    }

    #[test]
    fn new_and_returning_visitors_minimum_visits_languages_and_devices() {
        let mut v = visit();
        let mut audience = Audience {
            visitors: Visitors::New,
            ..Audience::default()
        };
        assert!(audience_matches(&audience, &v));
        v.visit_count = 3;
        assert!(!audience_matches(&audience, &v));
        audience.visitors = Visitors::Returning;
        assert!(audience_matches(&audience, &v));
        audience.min_visits = Some(4);
        assert!(!audience_matches(&audience, &v));
        audience.min_visits = None;
        audience.languages = vec!["en".into()];
        assert!(audience_matches(&audience, &v), "en matches en-US");
        audience.languages = vec!["cs".into()];
        assert!(!audience_matches(&audience, &v));
        v.language = None;
        assert!(
            !audience_matches(&audience, &v),
            "an unknown language matches no language list"
        );
        audience.languages.clear();
        audience.devices = vec!["mobile".into()];
        assert!(!audience_matches(&audience, &v));
        v.device = Some("mobile");
        assert!(audience_matches(&audience, &v));
    }

    #[test]
    fn agents_online_or_offline_and_business_hours() {
        let mut v = visit();
        let online = Schedule {
            agents: AgentsRule::Online,
            business_hours: HoursRule::Any,
        };
        let offline = Schedule {
            agents: AgentsRule::Offline,
            business_hours: HoursRule::Any,
        };
        assert!(schedule_matches(&online, &v) && !schedule_matches(&offline, &v));
        v.agents_online = false;
        assert!(!schedule_matches(&online, &v) && schedule_matches(&offline, &v));
        let outside = Schedule {
            agents: AgentsRule::Any,
            business_hours: HoursRule::Outside,
        };
        assert!(!schedule_matches(&outside, &v));
    }

    #[test]
    fn once_per_session_once_per_visitor_and_every_page() {
        let fresh = History::default();
        let seen_page = History {
            this_page: true,
            this_session: true,
            ever: true,
        };
        let earlier_session = History {
            this_page: false,
            this_session: false,
            ever: true,
        };
        let other_page = History {
            this_page: false,
            this_session: true,
            ever: true,
        };
        assert!(frequency_allows(Frequency::OncePerSession, fresh));
        assert!(!frequency_allows(Frequency::OncePerSession, other_page));
        assert!(frequency_allows(Frequency::OncePerSession, earlier_session));
        assert!(!frequency_allows(
            Frequency::OncePerVisitor,
            earlier_session
        ));
        assert!(frequency_allows(Frequency::EveryPage, other_page));
        assert!(!frequency_allows(Frequency::EveryPage, seen_page));
    }

    #[test]
    fn a_disabled_flow_is_never_eligible() {
        let mut flow = crate::domain::flow::validate::parse(&serde_json::json!({
            "name": "F", "start": "s", "steps": {"s": {"type": "end"}}
        }))
        .expect("valid");
        assert!(eligible(&flow, &visit(), History::default()));
        flow.enabled = false;
        assert!(!eligible(&flow, &visit(), History::default()));
    }
}
