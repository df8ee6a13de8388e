//! The bench report: every figure, with its ratio to the baseline measured in the same run.

use anyhow::Context as _;
use serde::Serialize;
use std::path::Path;

/// One measured figure, e.g. S2's highest sustained rate on SQLite.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// The scenario or baseline: "S1", "S2-sqlite", "B1", ...
    pub scenario: String,
    /// What was measured: "p99_ms", "messages_per_s", "bytes_per_connection", ...
    pub name: String,
    pub value: f64,
    /// "ms", "msg/s", "bytes", ...
    pub unit: String,
    /// The baseline figure this one is compared with ("B1.round_trip_p99_ms"), if any.
    pub baseline: Option<String>,
    /// value / baseline value, when there is a baseline.
    pub ratio: Option<f64>,
    /// The target for this figure, in words ("<= 16384 bytes"), if any.
    pub target: Option<String>,
    /// Whether the target was met (None: no target, or a smoke run).
    pub met: Option<bool>,
}

impl Figure {
    pub fn new(scenario: &str, name: &str, value: f64, unit: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
            baseline: None,
            ratio: None,
            target: None,
            met: None,
        }
    }

    /// The key other figures name as their baseline: "B1.round_trip_p99_ms".
    pub fn key(&self) -> String {
        format!("{}.{}", self.scenario, self.name)
    }
}

/// The machine and run the figures come from.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub server_core: Option<usize>,
    pub load_core: Option<usize>,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned();
        Self {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            kernel,
            server_core: None,
            load_core: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub smoke: bool,
    pub machine: Machine,
    pub figures: Vec<Figure>,
    /// What limited a scenario, or why it stopped (errors, p99 over the bound), in words.
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(smoke: bool) -> Self {
        Self {
            started_at: chrono::Utc::now(),
            smoke,
            machine: Machine::read(),
            figures: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn push(&mut self, figure: Figure) {
        self.figures.push(figure);
    }

    /// Pushes a figure when there is one.
    pub fn extend(&mut self, figure: Option<Figure>) {
        self.figures.extend(figure);
    }

    /// Fills every figure's ratio from the baseline figure it names.
    pub fn compute_ratios(&mut self) {
        let values: std::collections::HashMap<String, f64> = self
            .figures
            .iter()
            .map(|figure| (figure.key(), figure.value))
            .collect();
        for figure in &mut self.figures {
            figure.ratio = figure
                .baseline
                .as_ref()
                .and_then(|key| values.get(key))
                .filter(|base| **base != 0.0)
                .map(|base| figure.value / base);
        }
    }

    pub fn print_table(&self) {
        let header = [
            "scenario", "figure", "value", "unit", "ratio", "baseline", "target",
        ];
        println!(
            "{:<16} {:<34} {:>14} {:<8} {:>8} {:<30} {}",
            header[0], header[1], header[2], header[3], header[4], header[5], header[6]
        );
        for figure in &self.figures {
            let ratio = figure
                .ratio
                .map_or_else(String::new, |ratio| format!("{ratio:.2}"));
            let target = match (&figure.target, figure.met) {
                (Some(target), Some(true)) => format!("{target} (met)"),
                (Some(target), Some(false)) => format!("{target} (MISSED)"),
                (Some(target), None) => target.clone(),
                (None, _) => String::new(),
            };
            println!(
                "{:<16} {:<34} {:>14.2} {:<8} {:>8} {:<30} {}",
                figure.scenario,
                figure.name,
                figure.value,
                figure.unit,
                ratio,
                figure.baseline.as_deref().unwrap_or(""),
                target
            );
        }
        for note in &self.notes {
            println!("note: {note}");
        }
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).context("serialising the report")?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}
