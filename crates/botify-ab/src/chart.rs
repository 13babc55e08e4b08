//! What the SVG and PNG line charts share: the palette, round ticks and the data frame.

/// Series colours (matplotlib's "tab10").
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// One line of a line chart.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// About five round tick values covering [lo, hi].
pub fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * 0.75)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

pub fn fmt_tick(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else if v.abs() >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Labels for evenly spaced ticks, with as many decimals as their step needs (0.005, 0.010, …).
pub fn tick_labels(ticks: &[f64]) -> Vec<String> {
    let step = match ticks {
        [a, b, ..] => (b - a).abs(),
        _ => return ticks.iter().map(|&t| fmt_tick(t)).collect(),
    };
    let decimals = (-step.log10().floor()).clamp(0.0, 9.0) as usize;
    ticks.iter().map(|t| format!("{t:.decimals$}")).collect()
}

/// The data ranges a line chart shows: all finite points, y from 0 (or below) with 5% headroom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
}

impl Frame {
    /// `None` when no series has a finite point.
    pub fn fit(series: &[Series]) -> Option<Frame> {
        let mut pts = series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .peekable();
        pts.peek()?;
        let (mut x0, mut x1, mut y0, mut y1) = pts.fold(
            (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ),
            |(a, b, c, d), p| (a.min(p.0), b.max(p.0), c.min(p.1), d.max(p.1)),
        );
        if x1 <= x0 {
            x1 = x0 + 1.0;
            x0 -= 0.0;
        }
        y0 = y0.min(0.0);
        if y1 <= y0 {
            y1 = y0 + 1.0;
        }
        y1 += (y1 - y0) * 0.05;
        Some(Frame { x0, x1, y0, y1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_start_at_zero_and_leave_headroom() {
        let s = [Series {
            label: "a".into(),
            points: vec![(1.0, 2.0), (3.0, 4.0), (f64::NAN, 9.0)],
        }];
        let f = Frame::fit(&s).unwrap();
        assert_eq!((f.x0, f.x1, f.y0), (1.0, 3.0, 0.0));
        assert!((f.y1 - 4.2).abs() < 1e-12);
        assert_eq!(Frame::fit(&[]), None);
        assert_eq!(fmt_tick(0.005), "0.005");
        assert_eq!(
            tick_labels(&ticks(0.0, 0.031)),
            [
                "0.000", "0.005", "0.010", "0.015", "0.020", "0.025", "0.030"
            ]
        );
        assert_eq!(
            tick_labels(&ticks(0.0, 10.0)),
            ["0", "2", "4", "6", "8", "10"]
        );
        assert_eq!(tick_labels(&ticks(0.0, 0.75)), ["0.0", "0.2", "0.4", "0.6"]);
        assert_eq!(fmt_tick(0.25), "0.25");
    }
}
