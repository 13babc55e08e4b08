//! Learning curves: per step (epoch, iteration) the training loss, the validation loss and a
//! held-out metric, written as CSV, PNG and HTML beside a model's output.

use crate::Result;
use botify_ab::chart::Series;
use std::path::{Path, PathBuf};

/// One step of a curve; NaN marks what was not measured (no loss for ALS, no metric without a
/// holdout, no training metric but for DIFM's AUC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub step: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
    pub value: f64,
    pub train_value: f64,
}

#[derive(Debug, Clone)]
pub struct Curve {
    /// `epoch` or `iteration`.
    pub step: &'static str,
    /// The metric's name, e.g. `precision@10`.
    pub metric: String,
    pub points: Vec<Point>,
}

impl Curve {
    pub fn new(step: &'static str, metric: String) -> Curve {
        Curve {
            step,
            metric,
            points: Vec::new(),
        }
    }

    pub fn push(
        &mut self,
        step: usize,
        train_loss: f64,
        validation_loss: f64,
        value: f64,
        train_value: f64,
    ) {
        self.points.push(Point {
            step,
            train_loss,
            validation_loss,
            value,
            train_value,
        });
    }

    /// The files [`Curve::write`] makes for `out`.
    pub fn files(out: &Path) -> [PathBuf; 3] {
        ["curve.csv", "curve.png", "curve.html"].map(|s| with_suffix(out, s))
    }

    /// Whether the metric was also measured on training data (DIFM's AUC).
    fn trained(&self) -> bool {
        self.points.iter().any(|p| p.train_value.is_finite())
    }

    fn csv(&self) -> String {
        let metric_column = self.metric.replace('@', "_at_").replace(' ', "_");
        let trained = self.trained();
        let train_column = if trained {
            format!(",train_{metric_column}")
        } else {
            String::new()
        };
        let mut csv = format!(
            "{},loss,validation_loss{train_column},{metric_column}\n",
            self.step
        );
        for p in &self.points {
            let train = if trained {
                format!(",{}", p.train_value)
            } else {
                String::new()
            };
            csv.push_str(&format!(
                "{},{},{}{train},{}\n",
                p.step, p.train_loss, p.validation_loss, p.value
            ));
        }
        csv
    }

    fn series(&self, label: &str, value: fn(&Point) -> f64) -> Series {
        Series {
            label: label.to_string(),
            points: self
                .points
                .iter()
                .filter(|p| value(p).is_finite())
                .map(|p| (p.step as f64, value(p)))
                .collect(),
        }
    }

    /// Writes `<out stem>.curve.csv`, `.curve.png` and `.curve.html`.
    pub fn write(&self, out: &Path) -> Result<()> {
        let [csv, png, html] = Curve::files(out);
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::create_dir(dir)?;
        }
        crate::write(&csv, self.csv())?;
        let trained = self.trained();
        let losses: Vec<Series> = [
            self.series("training", |p| p.train_loss),
            self.series("validation", |p| p.validation_loss),
        ]
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .collect();
        let held_out_label = if trained { "validation" } else { &self.metric };
        let metric: Vec<Series> = [
            self.series("training", |p| p.train_value),
            self.series(held_out_label, |p| p.value),
        ]
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .collect();
        let metric_title = if trained {
            self.metric.clone()
        } else {
            format!("held-out {}", self.metric)
        };
        let mut charts: Vec<(&str, &str, &[Series])> = Vec::new();
        if !losses.is_empty() {
            charts.push(("loss", self.step, &losses));
        }
        if !metric.is_empty() {
            charts.push((&metric_title, self.step, &metric));
        }
        crate::write(&png, botify_ab::png::stacked(&charts))?;
        let svgs: String = charts
            .iter()
            .map(|(title, x, s)| botify_ab::svg::lines(title, x, s))
            .collect();
        crate::write(
            &html,
            format!(
                "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>learning curve</title></head><body>{svgs}</body></html>\n"
            ),
        )
    }
}

/// `<out stem>.<suffix>` beside `out`.
pub fn with_suffix(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    out.with_file_name(format!("{stem}.{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_csv_png_and_html_with_nan_where_unmeasured() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("models/mf.jsonl");
        let mut c = Curve::new("epoch", "precision@10".into());
        c.push(1, 0.5, f64::NAN, 0.1, f64::NAN);
        c.push(2, 0.4, f64::NAN, 0.2, f64::NAN);
        c.write(&out).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("models/mf.curve.csv")).unwrap();
        assert_eq!(
            csv,
            "epoch,loss,validation_loss,precision_at_10\n1,0.5,NaN,0.1\n2,0.4,NaN,0.2\n"
        );
        let png = std::fs::read(dir.path().join("models/mf.curve.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let html = std::fs::read_to_string(dir.path().join("models/mf.curve.html")).unwrap();
        assert!(html.contains("<svg"));
    }

    #[test]
    fn a_training_metric_gets_its_own_column() {
        let mut c = Curve::new("epoch", "AUC".into());
        c.push(1, 0.6, 0.65, 0.7, 0.75);
        assert_eq!(
            c.csv(),
            "epoch,loss,validation_loss,train_AUC,AUC\n1,0.6,0.65,0.75,0.7\n"
        );
    }
}
