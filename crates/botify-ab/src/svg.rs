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

/// Effects with their intervals on a shared axis, a dashed line at zero.
pub fn forest(title: &str, items: &[ForestItem]) -> String {
    let (w, left, right, top, row) = (480.0, 60.0, 20.0, 34.0, 34.0);
    let h = top + row * items.len().max(1) as f64 + 40.0;
    let finite: Vec<f64> = items
        .iter()
        .flat_map(|i| [i.lower, i.upper, i.effect])
        .filter(|v| v.is_finite())
        .collect();
    let lo = finite.iter().copied().fold(0.0f64, f64::min);
    let hi = finite.iter().copied().fold(0.0f64, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.5);
    let (lo, hi) = (lo - pad, hi + pad);
    let x = |v: f64| left + (v - lo) / (hi - lo) * (w - left - right);
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
        } else {
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" fill=\"#777\">no interval</text>",
                left + 4.0,
                y + 4.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// One polyline per series with axes, ticks and a legend.
pub fn lines(title: &str, x_label: &str, series: &[Series]) -> String {
    let (w, h, left, right, top, bottom) = (480.0, 300.0, 56.0, 16.0, 30.0, 64.0);
    let mut s = open(w, h, title);
    let Some(Frame { x0, x1, y0, y1 }) = Frame::fit(series) else {
        s.push_str("<text x=\"240\" y=\"150\" text-anchor=\"middle\" fill=\"#777\">no finished sessions</text></svg>");
        return s;
    };
    let px = |v: f64| left + (v - x0) / (x1 - x0) * (w - left - right);
    let py = |v: f64| top + (1.0 - (v - y0) / (y1 - y0)) * (h - top - bottom);
    let base = h - bottom;
    let tt = ticks(y0, y1);
    for (&t, label) in tt.iter().zip(tick_labels(&tt)) {
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#eee\"/><text x=\"{2}\" y=\"{3:.1}\" text-anchor=\"end\" fill=\"#555\">{4}</text>",
            py(t),
            w - right,
            left - 6.0,
            py(t) + 4.0,
            label
        );
    }
    let tt = ticks(x0, x1);
    for (&t, label) in tt.iter().zip(tick_labels(&tt)) {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
            px(t),
            base + 16.0,
            label
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#333\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{base}\" stroke=\"#333\"/>\
<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
        w - right,
        (left + w - right) / 2.0,
        base + 32.0,
        escape(x_label)
    );
    for (k, ser) in series.iter().enumerate() {
        let c = PALETTE[k % PALETTE.len()];
        let pts: Vec<String> = ser
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|&(a, b)| format!("{:.1},{:.1}", px(a), py(b)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>",
            pts.join(" ")
        );
        let lx = left + 10.0 + 70.0 * k as f64;
        let _ = write!(
            s,
            "<rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            h - 20.0,
            lx + 16.0,
            h - 10.0,
            escape(&ser.label)
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
}
