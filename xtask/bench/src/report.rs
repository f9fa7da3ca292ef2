//! Figures (median, min, max, budget, verdict), the machine they were measured on, and the report: a table or JSON.

use anyhow::Result;

use crate::exec::query;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    AtMost(f64),
    AtLeast(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub name: String,
    pub unit: String,
    pub samples: Vec<f64>,
    pub budget: Option<Budget>,
    /// Why there is no number, e.g. "not run on this host".
    pub note: Option<String>,
}

/// The unit of figures that are counts, not measurements: shown without a spread.
pub const LINES: &str = "lines";

impl Figure {
    pub fn new(name: &str, unit: &str, samples: Vec<f64>) -> Figure {
        Figure { name: name.to_string(), unit: unit.to_string(), samples, budget: None, note: None }
    }

    pub fn not_run(name: &str, unit: &str, budget: Budget, note: &str) -> Figure {
        Figure { note: Some(note.to_string()), ..Figure::new(name, unit, Vec::new()).budget(budget) }
    }

    pub fn budget(self, budget: Budget) -> Figure {
        Figure { budget: Some(budget), ..self }
    }

    fn median(&self) -> Option<f64> {
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(sorted[n / 2]),
            _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
        }
    }

    fn min(&self) -> Option<f64> {
        self.samples.iter().copied().min_by(f64::total_cmp)
    }

    fn max(&self) -> Option<f64> {
        self.samples.iter().copied().max_by(f64::total_cmp)
    }

    /// Within budget, judged on the median; None without a budget or a number.
    fn pass(&self) -> Option<bool> {
        match (self.budget?, self.median()?) {
            (Budget::AtMost(limit), median) => Some(median <= limit),
            (Budget::AtLeast(limit), median) => Some(median >= limit),
        }
    }

    fn budget_text(&self) -> String {
        match self.budget {
            Some(Budget::AtMost(limit)) => format!("≤ {}", show(limit, &self.unit)),
            Some(Budget::AtLeast(limit)) => format!("≥ {}", show(limit, &self.unit)),
            None => String::new(),
        }
    }
}

/// Per-round ratios of two alternated series.
pub fn ratios(numerators: &[f64], denominators: &[f64]) -> Vec<f64> {
    numerators.iter().zip(denominators).map(|(a, b)| a / b).collect()
}

/// A value with its unit, to the precision that means something.
fn show(value: f64, unit: &str) -> String {
    match unit {
        "s" if value < 1.0 => format!("{value:.3} s"),
        "s" if value < 10.0 => format!("{value:.2} s"),
        "s" => format!("{value:.1} s"),
        "x" => format!("{value:.2}x"),
        "req/s" => format!("{value:.0} req/s"),
        "ms" | "MB" => format!("{value:.1} {unit}"),
        _ => format!("{value:.0} {unit}"),
    }
}

pub fn report_table(figures: &[Figure]) -> String {
    let mut rows = vec![["figure".to_string(), "median (min–max)".to_string(), "budget".into(), "pass/FAIL".into()]];
    for figure in figures {
        let value = match (figure.median(), figure.min(), figure.max()) {
            (Some(median), _, _) if figure.unit == LINES => show(median, LINES),
            (Some(median), Some(min), Some(max)) => {
                let unit = figure.unit.as_str();
                let spread =
                    |v: f64| show(v, unit).trim_end_matches(&format!(" {unit}")).trim_end_matches('x').to_string();
                let runs = figure.samples.len();
                let runs = if runs == 1 { "1 run".to_string() } else { format!("{runs} runs") };
                format!("{} ({}–{}, {runs})", show(median, unit), spread(min), spread(max))
            }
            _ => figure.note.clone().unwrap_or_default(),
        };
        let verdict = match figure.pass() {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None if figure.note.is_some() => "not run",
            None => "",
        };
        rows.push([figure.name.clone(), value, figure.budget_text(), verdict.to_string()]);
    }
    let widths: Vec<usize> = (0..4).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let line = |row: &[String; 4]| {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:w$}")).collect();
        format!("| {} |", cells.join(" | "))
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut lines = vec![line(&rows[0]), format!("|-{}-|", rule.join("-|-"))];
    lines.extend(rows[1..].iter().map(line));
    lines.join("\n")
}

pub struct Machine {
    hostname: String,
    nproc: usize,
    kernel: String,
    /// The docker engine's version; None when no section needed the engine.
    engine: Option<String>,
    date: String,
}

impl Machine {
    pub fn probe(engine: Option<String>) -> Result<Machine> {
        Ok(Machine {
            hostname: query("uname", &["-n"])?,
            nproc: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            kernel: query("uname", &["-r"])?,
            engine,
            date: query("date", &["-u", "+%FT%TZ"])?,
        })
    }

    pub fn describe(&self) -> String {
        let Machine { hostname, nproc, kernel, engine, date } = self;
        let engine = match engine {
            Some(version) => format!("Docker Engine {version}"),
            None => "no engine used".to_string(),
        };
        format!("{date} on {hostname}: {nproc} CPUs, Linux {kernel}, {engine}")
    }
}

/// The report as JSON: the machine, the date, the flavor, whether --quick, and every figure. `only` (the sections
/// --only named) is there only when given.
pub fn report_json(
    machine: &Machine,
    flavor: &str,
    quick: bool,
    only: Option<&[String]>,
    figures: &[Figure],
) -> serde_json::Value {
    let figures: Vec<serde_json::Value> = figures
        .iter()
        .map(|f| {
            let mut figure = serde_json::json!({
                "name": f.name,
                "median": f.median(),
                "min": f.min(),
                "max": f.max(),
                "unit": f.unit,
                "runs": f.samples.len(),
                "budget": f.budget.map(|_| f.budget_text()),
                "pass": f.pass(),
            });
            if let Some(note) = &f.note {
                figure["note"] = note.clone().into();
            }
            figure
        })
        .collect();
    let mut report = serde_json::json!({
        "machine": {
            "hostname": machine.hostname,
            "nproc": machine.nproc,
            "kernel": machine.kernel,
            "engine": machine.engine,
        },
        "date": machine.date,
        "flavor": flavor,
        "quick": quick,
        "figures": figures,
    });
    if let Some(only) = only {
        report["only"] = only.into();
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max_and_budgets() {
        let figure = Figure::new("f", "s", vec![3.0, 1.0, 2.0, 10.0]).budget(Budget::AtMost(2.5));
        assert_eq!((figure.median(), figure.min(), figure.max()), (Some(2.5), Some(1.0), Some(10.0)));
        assert_eq!(figure.pass(), Some(true));
        assert_eq!(Figure::new("f", "x", vec![0.8]).budget(Budget::AtLeast(0.9)).pass(), Some(false));
        assert_eq!(Figure::new("f", "x", vec![0.8]).pass(), None);
        assert_eq!(Figure::not_run("f", "x", Budget::AtMost(0.6), "not run on this host").pass(), None);
    }

    #[test]
    fn table_shows_spread_budget_and_verdict() {
        let figures = [
            Figure::new("ratio", "x", vec![1.2, 1.0, 1.4]).budget(Budget::AtMost(1.1)),
            Figure::not_run("alpine", "x", Budget::AtMost(0.6), "not run on this host"),
            Figure::new("size", LINES, vec![3600.0]).budget(Budget::AtMost(3500.0)),
        ];
        let table = report_table(&figures);
        assert!(table.contains("| 1.20x (1.00–1.40, 3 runs) | ≤ 1.10x"), "{table}");
        assert!(table.contains("not run on this host"), "{table}");
        assert!(table.contains("| not run"), "{table}");
        assert!(table.contains("| 3600 lines                | ≤ 3500 lines | FAIL"), "{table}");
    }
}
