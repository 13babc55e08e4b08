//! Small hand-written SVG charts (forest plot, line chart). A plotting crate would need a font
//! backend and a bundled font to place text; SVG text is laid out by the browser instead, so
//! these charts stay crisp, tiny and dependency-free.

pub use crate::chart::Series;
use crate::chart::{Frame, PALETTE, tick_labels, ticks};
use std::fmt::Write;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG element of `w` × `h` with a centred title, left open for the chart's content.
fn open(w: f64, h: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\
<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"600\">{}</text>",
        w / 2.0,
        escape(title)
    )
}

pub struct ForestItem {
    pub label: String,
    pub effect: f64,
    pub lower: f64,
    pub upper: f64,
    pub significant: bool,
    /// Whether the effect's direction is an improvement (a latency drop, a time rise).
    pub good: bool,
}

/// The axis limit past which a forest plot clips: 4 × the median extent of the intervals (at
/// least 20%), so one arm far out (+10,000% latency) does not squash every other interval
/// into a dot. None when nothing is that far.
pub fn clip_limit(extents: &[f64]) -> Option<f64> {
    let mut e: Vec<f64> = extents
        .iter()
        .map(|v| v.abs())
        .filter(|v| v.is_finite())
        .collect();
    if e.is_empty() {
        return None;
    }
    e.sort_by(f64::total_cmp);
    let limit = (4.0 * e[e.len() / 2]).max(20.0);
    (e[e.len() - 1] > limit).then_some(limit)
}

/// Effects with their intervals on a shared axis, a dashed line at zero. An axis that one arm
/// would stretch far beyond the others is clipped at [`clip_limit`]: what lies beyond is drawn
/// to the edge with an arrow and its value, and the chart says so.
pub fn forest(title: &str, items: &[ForestItem]) -> String {
    let (w, left, right, top, row) = (480.0, 60.0, 64.0, 34.0, 34.0);
    let limit = clip_limit(
        &items
            .iter()
            .flat_map(|i| [i.lower, i.upper])
            .collect::<Vec<_>>(),
    );
    let clip = |v: f64| limit.map_or(v, |l| v.clamp(-l, l));
    let h = top + row * items.len().max(1) as f64 + 40.0 + if limit.is_some() { 16.0 } else { 0.0 };
    let finite: Vec<f64> = items
        .iter()
        .flat_map(|i| [i.lower, i.upper, i.effect])
        .filter(|v| v.is_finite())
        .map(clip)
        .collect();
    let lo = finite.iter().copied().fold(0.0f64, f64::min);
    let hi = finite.iter().copied().fold(0.0f64, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.5);
    let (lo, hi) = (lo - pad, hi + pad);
    let x = |v: f64| left + (clip(v) - lo) / (hi - lo) * (w - left - right);
    let mut s = open(w, h, title);
    let axis_y = top + row * items.len().max(1) as f64;
    let tt = ticks(lo, hi);
    for (&t, label) in tt.iter().zip(tick_labels(&tt)) {
        let _ = write!(
            s,
            "<line x1=\"{0:.1}\" y1=\"{top}\" x2=\"{0:.1}\" y2=\"{axis_y}\" stroke=\"#eee\"/><text x=\"{0:.1}\" y=\"{1}\" text-anchor=\"middle\" fill=\"#555\">{2}%</text>",
            x(t),
            axis_y + 16.0,
            label
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{0:.1}\" y1=\"{top}\" x2=\"{0:.1}\" y2=\"{axis_y}\" stroke=\"#333\" stroke-dasharray=\"4 3\"/>",
        x(0.0)
    );
    for (k, it) in items.iter().enumerate() {
        let y = top + row * (k as f64 + 0.5);
        let colour = match (it.significant, it.good) {
            (true, true) => "#1a7f37",
            (true, false) => "#c62828",
            _ => "#777",
        };
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            y + 4.0,
            escape(&it.label)
        );
        if it.effect.is_finite() {
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" y1=\"{y}\" x2=\"{:.1}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"3\"/><circle cx=\"{:.1}\" cy=\"{y}\" r=\"5\" fill=\"{colour}\"><title>{:+.2}% [{:+.2}, {:+.2}]</title></circle>",
                x(it.lower),
                x(it.upper),
                x(it.effect),
                it.effect,
                it.lower,
                it.upper
            );
            // What the clipped axis cannot show: an arrow at the edge and the true value.
            for (v, dir) in [(it.upper, 1.0), (it.lower, -1.0)] {
                if limit.is_some_and(|l| v * dir > l) {
                    let edge = x(v);
                    let _ = write!(
                        s,
                        "<path d=\"M{:.1},{} l{:.1},-5 l0,10 z\" fill=\"{colour}\" class=\"clipped\"/><text x=\"{:.1}\" y=\"{}\" text-anchor=\"{}\" fill=\"{colour}\" font-size=\"11\">{}{:.0}%</text>",
                        edge + 7.0 * dir,
                        y,
                        -7.0 * dir,
                        edge + 10.0 * dir,
                        y + 4.0,
                        if dir > 0.0 { "start" } else { "end" },
                        if v > 0.0 { "+" } else { "" },
                        v
                    );
                }
            }
        } else {
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" fill=\"#777\">no interval</text>",
                left + 4.0,
                y + 4.0
            );
        }
    }
    if let Some(l) = limit {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\" font-size=\"11\">axis clipped at ±{l:.0}%: arrows mark intervals beyond it, with their value</text>",
            w / 2.0,
            h - 6.0
        );
    }
    s.push_str("</svg>");
    s
}

/// Legend rows for `labels` in a chart `w` wide from `left`: each entry as wide as its text
/// (about 7 px a character), wrapping to a new row where the next would not fit. Returns each
/// entry's (x, row) and the number of rows.
fn legend_layout(labels: &[&str], left: f64, w: f64) -> (Vec<(f64, usize)>, usize) {
    let (mut x, mut row) = (left, 0);
    let mut out = Vec::with_capacity(labels.len());
    for l in labels {
        let width = 22.0 + 7.0 * l.chars().count() as f64;
        if x > left && x + width > w - 8.0 {
            x = left;
            row += 1;
        }
        out.push((x, row));
        x += width;
    }
    (out, if labels.is_empty() { 0 } else { row + 1 })
}

/// The legend of `labels` from y = `top` down, colours by position.
fn legend(s: &mut String, labels: &[&str], left: f64, w: f64, top: f64) {
    let (at, _) = legend_layout(labels, left, w);
    for (k, ((x, row), label)) in at.iter().zip(labels).enumerate() {
        let c = PALETTE[k % PALETTE.len()];
        let y = top + 18.0 * *row as f64;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{c}\"/><text x=\"{:.1}\" y=\"{}\" class=\"legend\">{}</text>",
            x + 16.0,
            y + 10.0,
            escape(label)
        );
    }
}

/// A chart's plotting area and data ranges: where values land, and its axes.
struct Plot {
    w: f64,
    left: f64,
    right: f64,
    top: f64,
    /// The x axis's height (the bottom of the plotting area).
    base: f64,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Plot {
    fn px(&self, v: f64) -> f64 {
        self.left + (v - self.x0) / (self.x1 - self.x0) * (self.w - self.left - self.right)
    }

    fn py(&self, v: f64) -> f64 {
        self.top + (1.0 - (v - self.y0) / (self.y1 - self.y0)) * (self.base - self.top)
    }

    /// Horizontal grid lines with y labels (`unit` after each), x labels, both axes and the x
    /// axis's title.
    fn axes(&self, s: &mut String, x_label: &str, unit: &str) {
        let (left, top, base, right_edge) = (self.left, self.top, self.base, self.w - self.right);
        let tt = ticks(self.y0, self.y1);
        for (&t, label) in tt.iter().zip(tick_labels(&tt)) {
            let _ = write!(
                s,
                "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{right_edge}\" y2=\"{0:.1}\" stroke=\"#eee\"/><text x=\"{1}\" y=\"{2:.1}\" text-anchor=\"end\" fill=\"#555\">{label}{unit}</text>",
                self.py(t),
                left - 6.0,
                self.py(t) + 4.0,
            );
        }
        let tt = ticks(self.x0, self.x1);
        for (&t, label) in tt.iter().zip(tick_labels(&tt)) {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{label}</text>",
                self.px(t),
                base + 16.0,
            );
        }
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{base}\" x2=\"{right_edge}\" y2=\"{base}\" stroke=\"#333\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{base}\" stroke=\"#333\"/>\
<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
            (left + right_edge) / 2.0,
            base + 32.0,
            escape(x_label)
        );
    }
}

/// One polyline per series with axes, ticks and a legend.
pub fn lines(title: &str, x_label: &str, series: &[Series]) -> String {
    let (w, left, right, top) = (480.0, 56.0, 16.0, 30.0);
    let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
    let (_, rows) = legend_layout(&labels, left, w);
    // The legend takes as many rows as its entries need, under the axis label.
    let bottom = 46.0 + 18.0 * rows.max(1) as f64;
    let h = 236.0 + bottom;
    let mut s = open(w, h, title);
    let Some(Frame { x0, x1, y0, y1 }) = Frame::fit(series) else {
        s.push_str("<text x=\"240\" y=\"150\" text-anchor=\"middle\" fill=\"#777\">no finished sessions</text></svg>");
        return s;
    };
    let plot = Plot {
        w,
        left,
        right,
        top,
        base: h - bottom,
        x0,
        x1,
        y0,
        y1,
    };
    plot.axes(&mut s, x_label, "");
    let base = plot.base;
    for (k, ser) in series.iter().enumerate() {
        let c = PALETTE[k % PALETTE.len()];
        let pts: Vec<String> = ser
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|&(a, b)| format!("{:.1},{:.1}", plot.px(a), plot.py(b)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>",
            pts.join(" ")
        );
    }
    legend(&mut s, &labels, left, w, base + 40.0);
    s.push_str("</svg>");
    s
}

/// One treatment's estimate with its shaded interval band and a dashed zero line (the
/// cumulative effect as users arrive), from `points` (x, estimate, lower, upper), in the colour
/// `colour` it has in the other charts. A band far beyond the rest is clipped as in [`forest`].
pub fn band(title: &str, x_label: &str, points: &[(f64, f64, f64, f64)], colour: usize) -> String {
    let (w, left, right, top, base) = (480.0, 56.0, 16.0, 30.0, 236.0);
    let pts: Vec<&(f64, f64, f64, f64)> = points
        .iter()
        .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite() && p.3.is_finite())
        .collect();
    let limit = clip_limit(&pts.iter().flat_map(|p| [p.2, p.3]).collect::<Vec<_>>());
    let clip = |v: f64| limit.map_or(v, |l| v.clamp(-l, l));
    let h = base + 46.0 + if limit.is_some() { 16.0 } else { 0.0 };
    let mut s = open(w, h, title);
    if pts.is_empty() {
        s.push_str("<text x=\"240\" y=\"150\" text-anchor=\"middle\" fill=\"#777\">not enough users yet</text></svg>");
        return s;
    }
    let x0 = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x1 = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let y0 = pts.iter().map(|p| clip(p.2)).fold(0.0f64, f64::min);
    let y1 = pts.iter().map(|p| clip(p.3)).fold(0.0f64, f64::max);
    let pad = ((y1 - y0) * 0.05).max(0.5);
    let plot = Plot {
        w,
        left,
        right,
        top,
        base,
        x0,
        x1: if x1 > x0 { x1 } else { x0 + 1.0 },
        y0: y0 - pad,
        y1: y1 + pad,
    };
    let xy = |x: f64, y: f64| format!("{:.1},{:.1}", plot.px(x), plot.py(clip(y)));
    plot.axes(&mut s, x_label, "%");
    let c = PALETTE[colour % PALETTE.len()];
    let upper = pts.iter().map(|p| xy(p.0, p.3));
    let lower = pts.iter().rev().map(|p| xy(p.0, p.2));
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#333\" stroke-dasharray=\"4 3\"/>\
<polygon class=\"band\" fill=\"{c}\" fill-opacity=\"0.15\" stroke=\"none\" points=\"{2}\"/><polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{3}\"/>",
        plot.py(0.0),
        w - right,
        upper.chain(lower).collect::<Vec<_>>().join(" "),
        pts.iter()
            .map(|p| xy(p.0, p.1))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if let Some(l) = limit {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\" font-size=\"11\">axis clipped at ±{l:.0}%</text>",
            w / 2.0,
            h - 6.0
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(-3.3, 7.9);
        assert!(t.first().unwrap() >= &-3.3 && t.last().unwrap() <= &7.9 && t.len() >= 4);
    }

    #[test]
    fn charts_are_well_formed_svg() {
        let f = forest(
            "time <&>",
            &[
                ForestItem {
                    label: "T1".into(),
                    effect: 5.0,
                    lower: 1.0,
                    upper: 9.0,
                    significant: true,
                    good: true,
                },
                ForestItem {
                    label: "T2".into(),
                    effect: f64::NAN,
                    lower: f64::NAN,
                    upper: f64::NAN,
                    significant: false,
                    good: true,
                },
            ],
        );
        assert!(
            f.starts_with("<svg")
                && f.ends_with("</svg>")
                && f.contains("time &lt;&amp;&gt;")
                && f.contains("no interval")
        );
        assert!(!f.contains("NaN"));
        // A significant rise of a metric where less is better (latency) is drawn red.
        let worse = forest(
            "mean_request_latency",
            &[ForestItem {
                label: "T1".into(),
                effect: 5.0,
                lower: 1.0,
                upper: 9.0,
                significant: true,
                good: false,
            }],
        );
        assert!(worse.contains("#c62828") && !worse.contains("#1a7f37"));
        let l = lines(
            "t",
            "hours",
            &[Series {
                label: "C".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0)],
            }],
        );
        assert!(l.contains("<polyline") && !l.contains("NaN"));
        assert!(lines("t", "x", &[]).contains("no finished sessions"));
    }

    #[test]
    fn one_far_arm_clips_the_axis_and_says_so() {
        assert_eq!(clip_limit(&[5.0, -3.0, 8.0, 2.0]), None);
        // The median extent is 8: the limit is 4 × 8 = 32, and 10,909 is past it.
        assert_eq!(clip_limit(&[5.0, -3.0, 8.0, 10_909.0, 9.0]), Some(32.0));
        let item = |label: &str, effect: f64, lower: f64, upper: f64| ForestItem {
            label: label.into(),
            effect,
            lower,
            upper,
            significant: true,
            good: false,
        };
        let f = forest(
            "mean_request_latency",
            &[
                item("T1", 2.0, -3.0, 5.0),
                item("T2", 1.0, -4.0, 6.0),
                item("T3", 10_909.0, 9_000.0, 12_000.0),
            ],
        );
        assert!(
            f.contains("axis clipped at ±24%") && f.contains("+12000%"),
            "{f}"
        );
        assert!(f.contains("class=\"clipped\""));
    }

    #[test]
    fn legends_wrap_into_rows_and_keep_every_entry() {
        let names: Vec<String> = (0..10).map(|i| format!("T{i} a long name")).collect();
        let labels: Vec<&str> = names.iter().map(String::as_str).collect();
        let (at, rows) = legend_layout(&labels, 56.0, 480.0);
        assert_eq!(at.len(), 10);
        assert!(rows >= 3, "{rows}");
        assert!(
            at.iter()
                .zip(&labels)
                .all(|((x, _), l)| x + 22.0 + 7.0 * l.len() as f64 <= 480.0)
        );
        let series: Vec<Series> = names
            .iter()
            .map(|n| Series {
                label: n.clone(),
                points: vec![(0.0, 1.0), (1.0, 2.0)],
            })
            .collect();
        let svg = lines("t", "x", &series);
        assert_eq!(svg.matches("class=\"legend\"").count(), 10);
        let b = band(
            "T1: cumulative effect",
            "% of users",
            &[(10.0, 5.0, -20.0, 30.0), (100.0, 4.0, 1.0, 7.0)],
            1,
        );
        assert!(b.contains("class=\"band\"") && b.contains(PALETTE[1]) && !b.contains("NaN"));
    }
}
