//! The flow editor's picture of a flow: a layered graph (breadth-first from the start step)
//! rendered as inline SVG. Pure functions of the definition; every text is escaped here
//! because step ids, texts and button labels are the admin's input.

use crate::domain::flow::{FlowDefinition, definition::Step};
use std::{
    collections::{BTreeMap, VecDeque},
    fmt::Write as _,
};

/// Box size and spacing, in SVG pixels: wide enough for ~26 characters of a step's text.
const BOX_W: i32 = 190;
const BOX_H: i32 = 58;
/// Room between columns: back edges bend through it.
const GAP_X: i32 = 64;
/// Room between rows for edge labels.
const GAP_Y: i32 = 74;
const MARGIN: i32 = 20;
/// Back edges bulge this far to the right of their boxes (their curve stays inside the gap).
const BACK_BULGE: i32 = GAP_X - 4;
/// Characters of a step's text shown in its box, and of a button label on its edge.
const BOX_TEXT_CHARS: usize = 26;
const LABEL_CHARS: usize = 18;

/// One step placed on the grid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub kind: &'static str,
    pub summary: String,
    pub row: usize,
    pub column: usize,
    pub reachable: bool,
}

/// A reference from one step to another (a button's `next`, or `next`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: String,
    /// Leads to a step on the same row or above (a "Back" button, a loop).
    pub back: bool,
}

/// The laid-out graph: reachable steps in breadth-first rows from `start`, unreachable steps
/// on one extra row below.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub unreachable: Vec<String>,
}

impl Layout {
    /// Step ids in the order the graph shows them: row by row, then unreachable ones.
    pub fn order(&self) -> Vec<String> {
        self.nodes.iter().map(|node| node.id.clone()).collect()
    }

    fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| node.id == id)
    }

    fn rows(&self) -> usize {
        self.nodes
            .iter()
            .map(|node| node.row + 1)
            .max()
            .unwrap_or(0)
    }

    fn columns(&self) -> usize {
        self.nodes
            .iter()
            .map(|node| node.column + 1)
            .max()
            .unwrap_or(0)
    }
}

fn shorten(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        text
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}

fn summary(step: &Step) -> String {
    match step {
        Step::Message { text, .. } => text.clone(),
        Step::Collect { field, prompt, .. } => format!("{field}: {prompt}"),
        Step::Tag { tags, .. } => tags.join(", "),
        Step::Handover { context, message } => {
            if context.is_empty() {
                message.clone().unwrap_or_default()
            } else {
                context
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }
        Step::End { message } => message.clone().unwrap_or_default(),
    }
}

/// The labelled references leaving a step.
fn out_edges(step: &Step) -> Vec<(String, String)> {
    match step {
        Step::Message { buttons, .. } => buttons
            .iter()
            .filter_map(|b| b.next.as_ref().map(|next| (next.clone(), b.label.clone())))
            .collect(),
        Step::Collect { next, .. } => vec![(next.clone(), "answered".to_owned())],
        Step::Tag { next, .. } => vec![(next.clone(), "then".to_owned())],
        Step::Handover { .. } | Step::End { .. } => Vec::new(),
    }
}

/// Lays the flow out: breadth-first rows from `start`, unreachable steps on a last row.
pub fn layout(flow: &FlowDefinition) -> Layout {
    let mut row_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut queue = VecDeque::new();
    if flow.steps.contains_key(&flow.start) {
        row_of.insert(flow.start.clone(), 0);
        queue.push_back(flow.start.clone());
    }
    while let Some(id) = queue.pop_front() {
        let row = row_of.get(&id).copied().unwrap_or(0);
        if rows.len() <= row {
            rows.resize(row + 1, Vec::new());
        }
        rows[row].push(id.clone());
        if let Some(step) = flow.steps.get(&id) {
            for (next, _) in out_edges(step) {
                if flow.steps.contains_key(&next) && !row_of.contains_key(&next) {
                    row_of.insert(next.clone(), row + 1);
                    queue.push_back(next);
                }
            }
        }
    }
    let unreachable: Vec<String> = flow
        .steps
        .keys()
        .filter(|id| !row_of.contains_key(*id))
        .cloned()
        .collect();
    if !unreachable.is_empty() {
        rows.push(unreachable.clone());
    }
    let reachable_rows = rows.len() - usize::from(!unreachable.is_empty());
    let mut nodes = Vec::new();
    for (row, ids) in rows.iter().enumerate() {
        for (column, id) in ids.iter().enumerate() {
            if let Some(step) = flow.steps.get(id) {
                nodes.push(Node {
                    id: id.clone(),
                    kind: step.kind(),
                    summary: summary(step),
                    row,
                    column,
                    reachable: row < reachable_rows,
                });
            }
        }
    }
    let row_index: BTreeMap<&str, usize> = nodes.iter().map(|n| (n.id.as_str(), n.row)).collect();
    let mut edges = Vec::new();
    for node in &nodes {
        let Some(step) = flow.steps.get(&node.id) else {
            continue;
        };
        for (to, label) in out_edges(step) {
            let Some(&target_row) = row_index.get(to.as_str()) else {
                continue; // a reference to a missing step: validation reports it
            };
            edges.push(Edge {
                from: node.id.clone(),
                back: target_row <= node.row,
                to,
                label,
            });
        }
    }
    Layout {
        nodes,
        edges,
        unreachable,
    }
}

/// Escapes text for SVG/HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn position(node: &Node) -> (i32, i32) {
    let column = i32::try_from(node.column).unwrap_or(0);
    let row = i32::try_from(node.row).unwrap_or(0);
    (
        MARGIN + column * (BOX_W + GAP_X),
        MARGIN + row * (BOX_H + GAP_Y),
    )
}

/// Where an edge is drawn: a cubic curve's four points, and where its label goes.
struct EdgeShape {
    points: [(i32, i32); 4],
    /// The label's anchor point (its baseline) and how the text hangs from it.
    label: (i32, i32),
    anchor: &'static str,
}

/// A forward edge runs from the bottom of its step down to the top of the next one, its
/// label three quarters along, near its target, where the edges leaving one step have
/// spread apart. A back edge leaves the right side of its step and bulges through the
/// column gap to the right side of its target; its label sits just above where it leaves
/// its step, in the gap beside the box: the middle of that curve lies in the row gap that
/// forward edges cross, where the label would read as theirs.
fn edge_shape(from: &Node, to: &Node, back: bool) -> EdgeShape {
    let (fx, fy) = position(from);
    let (tx, ty) = position(to);
    if back {
        let (sx, sy) = (fx + BOX_W, fy + BOX_H / 2);
        let (ex, ey) = (tx + BOX_W, ty + BOX_H / 2);
        let bulge = sx.max(ex) + BACK_BULGE;
        let offset = if from.id == to.id { BOX_H / 2 } else { 0 };
        let start = (sx, sy - offset / 2);
        EdgeShape {
            points: [
                start,
                (bulge, sy - offset),
                (bulge, ey + offset),
                (ex, ey + offset / 2),
            ],
            label: (start.0 + 5, start.1 - 6),
            anchor: "start",
        }
    } else {
        let (sx, sy) = (fx + BOX_W / 2, fy + BOX_H);
        let (ex, ey) = (tx + BOX_W / 2, ty);
        let mid = (sy + ey) / 2;
        EdgeShape {
            points: [(sx, sy), (sx, mid), (ex, mid), (ex, ey)],
            label: ((sx * 5 + ex * 27) / 32, (sy + mid * 36 + ey * 27) / 64 + 4),
            anchor: "middle",
        }
    }
}

/// Renders the layout as an SVG element; all text is escaped, so the result may be embedded
/// as it is.
pub fn render_svg(layout: &Layout) -> String {
    let columns = i32::try_from(layout.columns().max(1)).unwrap_or(1);
    let rows = i32::try_from(layout.rows().max(1)).unwrap_or(1);
    let width = MARGIN * 2 + columns * BOX_W + (columns - 1) * GAP_X + BACK_BULGE;
    let height = MARGIN * 2 + rows * BOX_H + (rows - 1) * GAP_Y;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"flow-graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Flow graph\">\
<defs><marker id=\"fd-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
<path d=\"M0,0 L10,5 L0,10 z\" class=\"arrow-head\"/></marker></defs>"
    );
    if let Some(first_unreachable) = layout.nodes.iter().find(|n| !n.reachable) {
        let (_, y) = position(first_unreachable);
        let _ = write!(
            svg,
            "<text class=\"row-label\" x=\"{MARGIN}\" y=\"{}\">Unreachable: nothing leads here from the start step</text>",
            y - 10
        );
    }
    // Edges first, then boxes, then edge labels, so a label is never hidden under a box.
    let mut labels = String::new();
    for edge in &layout.edges {
        let (Some(from), Some(to)) = (layout.node(&edge.from), layout.node(&edge.to)) else {
            continue;
        };
        let shape = edge_shape(from, to, edge.back);
        let [(sx, sy), (c1x, c1y), (c2x, c2y), (ex, ey)] = shape.points;
        let path = format!("M{sx},{sy} C{c1x},{c1y} {c2x},{c2y} {ex},{ey}");
        let (lx, ly) = shape.label;
        let anchor = shape.anchor;
        let class = if edge.back { "edge back" } else { "edge" };
        let _ = write!(
            svg,
            "<g class=\"{class}\" data-from=\"{}\" data-to=\"{}\"><path d=\"{path}\" marker-end=\"url(#fd-arrow)\"/></g>",
            escape(&edge.from),
            escape(&edge.to),
        );
        let _ = write!(
            labels,
            "<text class=\"edge-label\" x=\"{lx}\" y=\"{ly}\" text-anchor=\"{anchor}\">{}</text>",
            escape(&shorten(&edge.label, LABEL_CHARS))
        );
    }
    for node in &layout.nodes {
        let (x, y) = position(node);
        let class = if node.reachable {
            format!("node kind-{}", node.kind)
        } else {
            format!("node kind-{} unreachable", node.kind)
        };
        let _ = write!(
            svg,
            "<g class=\"{class}\" data-step=\"{id}\"><title>{id} ({kind})</title>\
<rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"8\"/>\
<text x=\"{tx}\" y=\"{y1}\"><tspan class=\"step-id\">{short_id}</tspan><tspan class=\"step-kind\" dx=\"6\">{kind}</tspan></text>\
<text class=\"step-text\" x=\"{tx}\" y=\"{y2}\">{text}</text></g>",
            id = escape(&node.id),
            short_id = escape(&shorten(&node.id, 20)),
            kind = node.kind,
            tx = x + 10,
            y1 = y + 22,
            y2 = y + 44,
            text = escape(&shorten(&node.summary, BOX_TEXT_CHARS)),
        );
    }
    svg.push_str(&labels);
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::flow::validate;
    use serde_json::json;

    fn flow(value: serde_json::Value) -> FlowDefinition {
        serde_json::from_value(value).expect("flow shape")
    }

    fn support() -> FlowDefinition {
        let value = json!({
            "name": "Support", "start": "menu",
            "steps": {
                "menu": {"type": "message", "text": "What do you need?", "buttons": [
                    {"id": "price", "label": "Pricing", "next": "pricing"},
                    {"id": "human", "label": "Talk to a person", "next": "handover"}]},
                "pricing": {"type": "message", "text": "Plans start at ...", "buttons": [
                    {"id": "back", "label": "Back", "next": "menu"},
                    {"id": "done", "label": "That helped", "next": "bye"},
                    {"id": "docs", "label": "Open docs", "url": "https://example.com/docs"}]},
                "email": {"type": "collect", "field": "email", "prompt": "Your email?", "next": "handover"},
                "tagit": {"type": "tag", "tags": ["pricing"], "next": "menu"},
                "handover": {"type": "handover", "message": "Connecting you.", "context": {"topic": "sales"}},
                "bye": {"type": "end", "message": "Glad I could help!"}
            }
        });
        validate::parse(&value).expect("valid")
    }

    fn node<'a>(layout: &'a Layout, id: &str) -> &'a Node {
        layout
            .nodes
            .iter()
            .find(|n| n.id == id)
            .expect("node exists")
    }

    #[test]
    fn reachable_steps_are_layered_breadth_first_from_the_start() {
        let layout = layout(&support());
        assert_eq!(node(&layout, "menu").row, 0);
        assert_eq!(node(&layout, "pricing").row, 1);
        assert_eq!(node(&layout, "handover").row, 1);
        assert_eq!(node(&layout, "bye").row, 2);
        assert!(node(&layout, "bye").reachable);
        assert_eq!(
            layout.order()[..4],
            ["menu", "pricing", "handover", "bye"].map(String::from)
        );
    }

    #[test]
    fn unreachable_steps_get_their_own_last_row_and_are_listed() {
        let layout = layout(&support());
        assert_eq!(layout.unreachable, vec!["email", "tagit"]);
        for id in ["email", "tagit"] {
            assert!(!node(&layout, id).reachable);
            assert_eq!(node(&layout, id).row, 3);
        }
        let svg = render_svg(&layout);
        assert_eq!(svg.matches("class=\"node kind-").count(), 6);
        assert_eq!(svg.matches(" unreachable\"").count(), 2);
        assert!(svg.contains("Unreachable: nothing leads here"));
    }

    #[test]
    fn back_edges_are_marked_and_drawn_dashed_by_class() {
        let layout = layout(&support());
        let back = layout
            .edges
            .iter()
            .find(|e| e.from == "pricing" && e.to == "menu")
            .expect("the Back button");
        assert!(back.back);
        assert_eq!(back.label, "Back");
        let forward = layout
            .edges
            .iter()
            .find(|e| e.from == "menu" && e.to == "pricing")
            .expect("the Pricing button");
        assert!(!forward.back);
        assert!(
            !layout.edges.iter().any(|e| e.label == "Open docs"),
            "URL buttons lead nowhere in the flow"
        );
        let svg = render_svg(&layout);
        assert!(svg.contains("class=\"edge back\" data-from=\"pricing\" data-to=\"menu\""));
    }

    #[test]
    fn a_step_leading_to_itself_is_a_back_edge() {
        let layout = layout(&flow(json!({"name": "Loop", "start": "a", "steps": {
            "a": {"type": "message", "text": "Again?", "buttons": [{"id": "again", "label": "Again", "next": "a"}]}
        }})));
        assert_eq!(layout.edges.len(), 1);
        assert!(layout.edges[0].back);
        assert!(layout.unreachable.is_empty());
    }

    #[test]
    fn labels_and_texts_are_escaped() {
        let layout = layout(&flow(json!({"name": "Evil", "start": "a", "steps": {
            "a": {"type": "message", "text": "<script>alert(1)</script>", "buttons": [
                {"id": "x", "label": "<script>x</script>", "next": "b"}]},
            "b": {"type": "end", "message": "\"quoted\" & 'single'"}
        }})));
        let svg = render_svg(&layout);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("&quot;quoted&quot; &amp; &#39;single&#39;"));
    }

    #[test]
    fn a_missing_start_puts_every_step_on_the_unreachable_row() {
        let layout = layout(&flow(
            json!({"name": "Broken", "start": "nowhere", "steps": {
                "a": {"type": "end"}, "b": {"type": "message", "text": "Hi", "buttons": [{"id": "x", "label": "X", "next": "pricng"}]}
            }}),
        ));
        assert_eq!(layout.unreachable, vec!["a", "b"]);
        assert!(
            layout.edges.is_empty(),
            "a reference to a missing step draws nothing"
        );
        assert!(render_svg(&layout).starts_with("<svg"));
    }

    /// Points along a cubic curve.
    fn samples(points: [(i32, i32); 4]) -> Vec<(f64, f64)> {
        let p: Vec<(f64, f64)> = points
            .iter()
            .map(|&(x, y)| (f64::from(x), f64::from(y)))
            .collect();
        (0..=100)
            .map(|i| {
                let t = f64::from(i) / 100.0;
                let u = 1.0 - t;
                let w = [u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t];
                (
                    (0..4).map(|k| w[k] * p[k].0).sum(),
                    (0..4).map(|k| w[k] * p[k].1).sum(),
                )
            })
            .collect()
    }

    #[test]
    fn every_label_sits_on_its_own_edge_and_no_other_edge_crosses_it() {
        let value = json!({"name": "Demo", "start": "menu", "steps": {
            "menu": {"type": "message", "text": "What can I help you with?", "buttons": [
                {"id": "shipping", "label": "Shipping times", "next": "shipping"},
                {"id": "wholesale", "label": "Wholesale orders", "next": "tag_wholesale"},
                {"id": "human", "label": "Talk to a person", "next": "handover"}]},
            "shipping": {"type": "message", "text": "We ship within 2 days.", "buttons": [
                {"id": "back", "label": "Back", "next": "menu"},
                {"id": "thanks", "label": "That helped", "next": "bye"}]},
            "tag_wholesale": {"type": "tag", "tags": ["wholesale"], "next": "email"},
            "email": {"type": "collect", "field": "email", "prompt": "Which email?", "next": "handover"},
            "handover": {"type": "handover", "message": "Connecting you."},
            "bye": {"type": "end", "message": "Glad I could help."}}});
        let layout = layout(&validate::parse(&value).expect("valid"));
        let shapes: Vec<(&Edge, EdgeShape)> = layout
            .edges
            .iter()
            .map(|e| {
                (
                    e,
                    edge_shape(node(&layout, &e.from), node(&layout, &e.to), e.back),
                )
            })
            .collect();
        for (edge, shape) in &shapes {
            // The label's box: about 6.5 px a character at 11 px, from baseline to cap height.
            let width = 6.5 * shorten(&edge.label, LABEL_CHARS).chars().count() as f64;
            let (x, y) = (f64::from(shape.label.0), f64::from(shape.label.1));
            let left = if shape.anchor == "middle" {
                x - width / 2.0
            } else {
                x
            };
            let (right, top, bottom) = (left + width, y - 9.0, y + 2.0);
            let near = |(px, py): (f64, f64), pad: f64| {
                px >= left - pad && px <= right + pad && py >= top - pad && py <= bottom + pad
            };
            assert!(
                samples(shape.points).into_iter().any(|p| near(p, 8.0)),
                "{:?}'s label is on its own edge",
                edge.label
            );
            for (other, other_shape) in &shapes {
                if std::ptr::eq(*other, *edge) {
                    continue;
                }
                assert!(
                    !samples(other_shape.points)
                        .into_iter()
                        .any(|p| near(p, 1.0)),
                    "{:?}'s label lies on the edge {} -> {}",
                    edge.label,
                    other.from,
                    other.to
                );
            }
        }
    }
}
