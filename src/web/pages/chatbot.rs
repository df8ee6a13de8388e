//! The Chatbot section: the flow list (new, import, export, enable, duplicate as translation,
//! delete) and the flow editor (one form for the whole flow, saved through
//! `services::flows::replace` so the whole graph is validated). The preview is in
//! `flow_preview`.

use super::{
    Chrome,
    flow_form::{self, FlowDraft, StepDraft},
    flow_graph, flow_preview, format_time, redirect, render, render_with_status,
};
use crate::{
    domain::{
        FieldError,
        flow::{FlowDefinition, validate},
        role::Role,
        visitor::parse_language,
    },
    services::{self, Actor, Context, ServiceError, accounts::Account, flows::Flow},
    web::{
        auth::{EmptyForm, SecureForm, SignedIn},
        errors::PageError,
    },
};
use actix_web::{
    HttpResponse, get,
    http::{StatusCode, header},
    post, web,
};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_chatbot)
        .service(post_new_flow)
        .service(post_import_flow)
        .service(get_flow_editor)
        .service(post_flow_editor)
        .service(get_flow_export)
        .service(post_flow_enabled)
        .service(post_flow_translation)
        .service(post_delete_flow);
    flow_preview::configure(cfg);
}

/// The flow "New flow" creates: a message with one button leading to an end, disabled until
/// the admin has made it their own.
fn starter_flow() -> serde_json::Value {
    json!({
        "name": "New flow",
        "enabled": false,
        "priority": 0,
        "welcome": "Hi! Can we help you?",
        "start": "hello",
        "steps": {
            "hello": {"type": "message", "text": "What brings you here today?", "buttons": [
                {"id": "looking", "label": "Just looking", "next": "bye"}]},
            "bye": {"type": "end", "message": "Enjoy your visit!"}
        }
    })
}

pub(super) fn admin(signed_in: &SignedIn) -> Result<&Actor, PageError> {
    signed_in.actor.require(Role::Admin)?;
    Ok(&signed_in.actor)
}

/// A flow id from the URL; anything else is a flow that does not exist.
pub(super) fn flow_id(raw: &str) -> Result<uuid::Uuid, ServiceError> {
    raw.parse().map_err(|_| ServiceError::NotFound)
}

fn definition_json(flow: &FlowDefinition) -> Result<serde_json::Value, ServiceError> {
    serde_json::to_value(flow).map_err(|error| {
        ServiceError::Unexpected(anyhow::Error::new(error).context("encoding a flow"))
    })
}

fn lines(problems: &[FieldError]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

// ---- the flow list ----

/// One line of the flow list.
pub struct FlowRow {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub priority: i32,
    pub languages: String,
    pub steps: usize,
    pub unreachable: Vec<String>,
    pub updated: String,
    /// Runs triggered and chatbot conversations counted in the last 30 days.
    pub triggered: u64,
    pub counted: u64,
}

impl FlowRow {
    fn new(flow: &Flow) -> Self {
        let reachable = validate::reachable(&flow.definition);
        let languages = &flow.definition.trigger.audience.languages;
        Self {
            id: flow.id.to_string(),
            name: flow.definition.name.clone(),
            enabled: flow.definition.enabled,
            priority: flow.definition.priority,
            languages: if languages.is_empty() {
                "all".to_owned()
            } else {
                languages.join(", ")
            },
            steps: flow.definition.steps.len(),
            unreachable: flow
                .definition
                .steps
                .keys()
                .filter(|id| !reachable.contains(*id))
                .cloned()
                .collect(),
            updated: format_time(flow.updated_at),
            triggered: 0,
            counted: 0,
        }
    }
}

#[derive(Template)]
#[template(path = "chatbot/index.html")]
struct ChatbotPage {
    chrome: Chrome,
    account: Account,
    flows: Vec<FlowRow>,
    /// This period's chatbot conversations, and when the period renews.
    allowance: services::billing::ChatbotAllowance,
    renews: String,
    /// The JSON pasted into "Import JSON", kept when it did not import.
    import_json: String,
    import_errors: Vec<String>,
    /// Problems of "Duplicate as translation", with the flow they are about.
    translate_errors: Vec<String>,
    translate_flow: String,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
struct ListQuery {
    deleted: Option<String>,
}

async fn list_page(
    ctx: &Context,
    signed_in: &SignedIn,
    notice: Option<&'static str>,
) -> Result<ChatbotPage, PageError> {
    let actor = admin(signed_in)?;
    let range = services::insights::Range::parse(None, None, ctx.clock.now().date_naive())?;
    let figures = services::insights::insights(ctx, actor, range).await?.flows;
    let flows = services::flows::list(ctx, actor)
        .await?
        .iter()
        .map(|flow| {
            let mut row = FlowRow::new(flow);
            if let Some(found) = figures.iter().find(|f| f.flow_id == flow.id) {
                row.triggered = found.figures.triggered;
                row.counted = found.figures.counted;
            }
            row
        })
        .collect();
    let (period, allowance) = services::billing::allowance(ctx, actor.account_id.as_uuid()).await?;
    Ok(ChatbotPage {
        allowance,
        renews: period.end.format("%B %-d, %Y").to_string(),
        chrome: Chrome::new(ctx, actor, &signed_in.session, "chatbot").await?,
        account: services::accounts::get_account(ctx, actor.account_id).await?,
        flows,
        import_json: String::new(),
        import_errors: Vec::new(),
        translate_errors: Vec::new(),
        translate_flow: String::new(),
        notice,
    })
}

#[get("/chatbot")]
async fn get_chatbot(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = query.deleted.as_ref().map(|_| "The flow was deleted.");
    render(&list_page(&ctx, &signed_in, notice).await?)
}

#[post("/chatbot/flows")]
async fn post_new_flow(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let flow = services::flows::create(&ctx, actor, &starter_flow()).await?;
    Ok(redirect(&format!("/chatbot/flows/{}?created=1", flow.id)))
}

#[derive(Deserialize)]
struct ImportForm {
    json: String,
}

#[post("/chatbot/import")]
async fn post_import_flow(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<ImportForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let problems = match serde_json::from_str::<serde_json::Value>(&form.json) {
        Err(error) => vec![format!("json: not valid JSON ({error})")],
        Ok(json) => match services::flows::create(&ctx, actor, &json).await {
            Ok(flow) => return Ok(redirect(&format!("/chatbot/flows/{}?imported=1", flow.id))),
            Err(ServiceError::Invalid(problems)) => lines(&problems),
            Err(error) => return Err(error.into()),
        },
    };
    let mut page = list_page(&ctx, &signed_in, None).await?;
    page.import_json = form.json;
    page.import_errors = problems;
    render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
}

/// The same JSON as `GET /api/v1/flows/{id}`, as a download.
#[get("/chatbot/flows/{id}/export")]
async fn get_flow_export(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let flow = services::flows::get(&ctx, actor, flow_id(&path)?).await?;
    let body = serde_json::to_string_pretty(&flow.to_json())
        .map_err(|error| ServiceError::Unexpected(anyhow::Error::new(error)))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"flow-{}.json\"", flow.id),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

#[derive(Deserialize)]
struct EnabledForm {
    enabled: String,
}

/// Turns a flow on or off (the switch in the list); the form says which, so a repeated
/// submit does not flip it back.
#[post("/chatbot/flows/{id}/enabled")]
async fn post_flow_enabled(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(form): SecureForm<EnabledForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let id = flow_id(&path)?;
    let mut flow = services::flows::get(&ctx, actor, id).await?.definition;
    flow.enabled = form.enabled == "true";
    services::flows::replace(&ctx, actor, id, &definition_json(&flow)?).await?;
    Ok(redirect("/chatbot"))
}

#[derive(Deserialize)]
struct TranslationForm {
    language: String,
}

/// "Duplicate as translation": a disabled copy named "<name> (<code>)" for one language. The
/// original is left as it is (see docs/decisions.md); the copy's editor explains when the
/// original still matches every language.
#[post("/chatbot/flows/{id}/translate")]
async fn post_flow_translation(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(form): SecureForm<TranslationForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let id = flow_id(&path)?;
    let original = services::flows::get(&ctx, actor, id).await?.definition;
    let code = form.language.trim().to_lowercase();
    let problems = match parse_language(&code) {
        None => vec![format!(
            "language: {:?} is not a language code like de or pt-br",
            form.language.trim()
        )],
        Some(_) => {
            let mut copy = original.clone();
            copy.name = format!("{} ({code})", original.name);
            copy.enabled = false;
            copy.trigger.audience.languages = vec![code];
            match services::flows::create(&ctx, actor, &definition_json(&copy)?).await {
                Ok(created) => {
                    return Ok(redirect(&format!(
                        "/chatbot/flows/{}?translated_from={id}",
                        created.id
                    )));
                }
                Err(ServiceError::Invalid(problems)) => lines(&problems),
                Err(error) => return Err(error.into()),
            }
        }
    };
    let mut page = list_page(&ctx, &signed_in, None).await?;
    page.translate_errors = problems;
    page.translate_flow = original.name;
    render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
}

#[post("/chatbot/flows/{id}/delete")]
async fn post_delete_flow(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    services::flows::delete(&ctx, actor, flow_id(&path)?).await?;
    Ok(redirect("/chatbot?deleted=1"))
}

// ---- the editor ----

/// A step card of the editor, with the problems found in that step.
pub struct StepCard {
    pub index: usize,
    pub step: StepDraft,
    /// In words, beside the fields they are about (the paths stay in the API).
    pub problems: super::flow_problems::StepProblems,
}

#[derive(Template)]
#[template(path = "chatbot/editor.html")]
struct FlowEditorPage {
    chrome: Chrome,
    id: String,
    /// The name as stored (the draft may have another).
    title: String,
    form: FlowDraft,
    cards: Vec<StepCard>,
    step_ids: Vec<String>,
    /// Every problem in words, with its path (shown as a hint; the API's name for it).
    errors: Vec<(String, String)>,
    graph_svg: String,
    unreachable: Vec<String>,
    notices: Vec<String>,
    /// The form holds changes that are not stored yet.
    unsaved: bool,
    /// Which targeting tab is open.
    tab: String,
    new_step_id: String,
    new_step_type: String,
    when_types: &'static [(&'static str, &'static str)],
    page_fields: &'static [(&'static str, &'static str)],
    operators: &'static [(&'static str, &'static str)],
    step_kinds: &'static [&'static str],
    devices: &'static [&'static str],
}

/// One option of a "next step" select.
pub struct StepOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl FlowEditorPage {
    /// The options of a "next step" select: every step, and the chosen value even when no
    /// step has that id (kept so the admin sees what they typed, marked missing).
    fn step_options(&self, chosen: &str) -> Vec<StepOption> {
        let mut options: Vec<StepOption> = self
            .step_ids
            .iter()
            .map(|id| StepOption {
                value: id.clone(),
                label: id.clone(),
                selected: id == chosen,
            })
            .collect();
        if !chosen.is_empty() && !self.step_ids.iter().any(|id| id == chosen) {
            options.push(StepOption {
                value: chosen.to_owned(),
                label: format!("{chosen} (missing)"),
                selected: true,
            });
        }
        options
    }

    /// ` selected` when a select's value is this option.
    fn selected(&self, value: &str, option: &str) -> &'static str {
        if value == option { " selected" } else { "" }
    }

    fn has_device(&self, device: &str) -> bool {
        self.form.devices.iter().any(|d| d == device)
    }
}

const TABS: [&str; 5] = ["when", "where", "audience", "schedule", "frequency"];

async fn editor_page(
    ctx: &Context,
    signed_in: &SignedIn,
    flow: &Flow,
    form: FlowDraft,
    problems: &[FieldError],
) -> Result<FlowEditorPage, PageError> {
    let (drawn, _) = form.build();
    let layout = flow_graph::layout(&drawn);
    let cards = form
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| StepCard {
            index,
            problems: super::flow_problems::for_step(&step.id, problems),
            step: step.clone(),
        })
        .collect();
    Ok(FlowEditorPage {
        chrome: Chrome::new(ctx, &signed_in.actor, &signed_in.session, "chatbot").await?,
        id: flow.id.to_string(),
        title: flow.definition.name.clone(),
        step_ids: form.step_ids(),
        cards,
        form,
        errors: problems
            .iter()
            .map(|p| (super::flow_problems::describe(p), p.field.clone()))
            .collect(),
        graph_svg: flow_graph::render_svg(&layout),
        unreachable: layout.unreachable,
        notices: Vec::new(),
        unsaved: false,
        tab: "when".to_owned(),
        new_step_id: String::new(),
        new_step_type: "message".to_owned(),
        when_types: &flow_form::WHEN_TYPES,
        page_fields: &flow_form::PAGE_FIELDS,
        operators: &flow_form::OPERATORS,
        step_kinds: &flow_form::STEP_KINDS,
        devices: &flow_form::DEVICES,
    })
}

#[derive(Deserialize)]
struct EditorQuery {
    saved: Option<String>,
    created: Option<String>,
    imported: Option<String>,
    translated_from: Option<String>,
}

#[get("/chatbot/flows/{id}")]
async fn get_flow_editor(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    query: web::Query<EditorQuery>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let flow = services::flows::get(&ctx, actor, flow_id(&path)?).await?;
    let order = flow_graph::layout(&flow.definition).order();
    let form = FlowDraft::from_definition(&flow.definition, &order);
    let mut page = editor_page(&ctx, &signed_in, &flow, form, &[]).await?;
    if query.saved.is_some() {
        page.notices.push("Saved.".to_owned());
    }
    if query.created.is_some() {
        page.notices.push(
            "A new flow, disabled until you enable it: a message with one button leading to an end. Make it your own and save."
                .to_owned(),
        );
    }
    if query.imported.is_some() {
        page.notices.push("Imported.".to_owned());
    }
    if let Some(original) = query.translated_from.as_deref() {
        page.notices
            .extend(translation_notice(&ctx, actor, &flow, original).await?);
    }
    render(&page)
}

/// What a translated copy's editor says about its original.
async fn translation_notice(
    ctx: &Context,
    actor: &Actor,
    copy: &Flow,
    original: &str,
) -> Result<Option<String>, PageError> {
    let Ok(original_id) = original.parse::<uuid::Uuid>() else {
        return Ok(None);
    };
    let original = match services::flows::get(ctx, actor, original_id).await {
        Ok(flow) => flow.definition,
        Err(ServiceError::NotFound) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let language = copy.definition.trigger.audience.languages.join(", ");
    let mut notice = format!(
        "This copy is for visitors who speak {language}. It is disabled: translate its texts, then enable it."
    );
    if original.trigger.audience.languages.is_empty() {
        notice.push_str(&format!(
            " The original, \u{201c}{}\u{201d}, has no language set, so it still matches every language, {language} included. \
Set its languages (for example en) in its Audience tab, or give this copy a higher priority, so {language} visitors get this one.",
            original.name
        ));
    }
    Ok(Some(notice))
}

/// What a press of one of the editor's buttons asks for.
enum EditorAction {
    Save,
    AddStep,
    DeleteStep(usize),
    AddButton(usize),
    RemoveButton(usize, usize),
    AddCondition,
    RemoveCondition(usize),
}

impl EditorAction {
    fn parse(raw: &str) -> Option<Self> {
        let parts: Vec<&str> = raw.split(':').collect();
        let index = |i: usize| parts.get(i).and_then(|p| p.parse().ok());
        Some(match parts.first().copied()? {
            "save" => Self::Save,
            "add_step" => Self::AddStep,
            "delete_step" => Self::DeleteStep(index(1)?),
            "add_button" => Self::AddButton(index(1)?),
            "remove_button" => Self::RemoveButton(index(1)?, index(2)?),
            "add_condition" => Self::AddCondition,
            "remove_condition" => Self::RemoveCondition(index(1)?),
            _ => return None,
        })
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Changes the draft as a button asks (nothing is stored); answers a problem to show.
fn change_draft(
    form: &mut FlowDraft,
    action: &EditorAction,
    new_id: &str,
    new_kind: &str,
) -> Option<FieldError> {
    match *action {
        EditorAction::Save => {}
        EditorAction::AddStep => {
            if !validate::valid_id(new_id) {
                return Some(FieldError::new(
                    "new step",
                    "step ids are 1 to 64 letters, digits, _ or -",
                ));
            }
            if form.steps.iter().any(|s| s.id == new_id) {
                return Some(FieldError::new(
                    "new step",
                    format!("there is already a step {new_id:?}"),
                ));
            }
            if !flow_form::STEP_KINDS.contains(&new_kind) {
                return Some(FieldError::new(
                    "new step",
                    "the type must be message, collect, tag, handover or end",
                ));
            }
            form.steps.push(StepDraft::new(new_id, new_kind));
        }
        EditorAction::DeleteStep(i) if i < form.steps.len() => {
            form.steps.remove(i);
        }
        EditorAction::AddButton(i) => {
            if let Some(step) = form.steps.get_mut(i) {
                step.buttons.push(Default::default());
            }
        }
        EditorAction::RemoveButton(i, j) => {
            if let Some(step) = form.steps.get_mut(i)
                && j < step.buttons.len()
            {
                step.buttons.remove(j);
            }
        }
        EditorAction::AddCondition => form.conditions.push(flow_form::ConditionDraft {
            field: "url".to_owned(),
            op: "contains".to_owned(),
            value: String::new(),
        }),
        EditorAction::RemoveCondition(k) if k < form.conditions.len() => {
            form.conditions.remove(k);
        }
        EditorAction::DeleteStep(_) | EditorAction::RemoveCondition(_) => {}
    }
    None
}

/// Every button of the editor posts the whole form: "Save flow" validates and stores it all
/// at once; the others (add or delete a step, a button, a condition) change the form and
/// show it again, storing nothing until "Save flow".
#[post("/chatbot/flows/{id}")]
async fn post_flow_editor(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(fields): SecureForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let actor = admin(&signed_in)?;
    let id = flow_id(&path)?;
    let flow = services::flows::get(&ctx, actor, id).await?;
    let mut form = FlowDraft::from_fields(&fields);
    let tab = field(&fields, "tab")
        .filter(|tab| TABS.contains(tab))
        .unwrap_or("when")
        .to_owned();
    let new_id = field(&fields, "new_step_id")
        .unwrap_or("")
        .trim()
        .to_owned();
    let new_kind = field(&fields, "new_step_type")
        .unwrap_or("message")
        .to_owned();
    let Some(action) = EditorAction::parse(field(&fields, "op").unwrap_or("save")) else {
        return Err(PageError::BadForm("unknown editor action".to_owned()));
    };

    if let EditorAction::Save = action {
        let problems = match form.to_definition() {
            Ok(definition) => {
                match services::flows::replace(&ctx, actor, id, &definition_json(&definition)?)
                    .await
                {
                    Ok(_) => return Ok(redirect(&format!("/chatbot/flows/{id}?saved=1"))),
                    Err(ServiceError::Invalid(problems)) => problems,
                    Err(error) => return Err(error.into()),
                }
            }
            Err(problems) => problems,
        };
        let mut page = editor_page(&ctx, &signed_in, &flow, form, &problems).await?;
        page.tab = tab;
        page.unsaved = true;
        return render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }

    let problem = change_draft(&mut form, &action, &new_id, &new_kind);
    let mut page = editor_page(&ctx, &signed_in, &flow, form, &[]).await?;
    page.tab = tab;
    page.unsaved = true;
    if let Some(problem) = problem {
        page.errors = vec![(
            super::flow_problems::describe(&problem),
            problem.field.clone(),
        )];
        page.new_step_id = new_id;
        page.new_step_type = new_kind;
    }
    render(&page)
}
