//! Line charts as PNG images (learning curves people can open anywhere, embed in a README or
//! attach to an issue). Rasterised here with a built-in 5×7 pixel font, so no font file or system
//! font is needed; the `png` crate only encodes.

use crate::chart::{Frame, PALETTE, Series, tick_labels, ticks};

const W: usize = 720;
const H: usize = 440;
const LEFT: usize = 78;
const RIGHT: usize = 24;
const TOP: usize = 44;
const BOTTOM: usize = 84;

type Rgb = [u8; 3];
const WHITE: Rgb = [255, 255, 255];
const INK: Rgb = [51, 51, 51];
const MUTED: Rgb = [100, 100, 100];
const GRID: Rgb = [235, 235, 235];

struct Canvas {
    px: Vec<u8>,
}

impl Canvas {
    fn new() -> Canvas {
        Canvas {
            px: WHITE.repeat(W * H),
        }
    }

    fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if (0..W as i64).contains(&x) && (0..H as i64).contains(&y) {
            let i = (y as usize * W + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: Rgb) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, c);
            }
        }
    }

    /// A line `width` pixels thick (a square brush along Bresenham's path).
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), width: i64, c: Rgb) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        let lo = -(width - 1) / 2;
        loop {
            self.rect(x + lo, y + lo, width, width, c);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Text at `scale` × the 5×7 font; `anchor` 0 = left, 1 = centre, 2 = right of `x`.
    fn text(&mut self, s: &str, x: i64, y: i64, scale: i64, anchor: u8, c: Rgb) {
        let width = text_width(s, scale);
        let mut cx = match anchor {
            0 => x,
            1 => x - width / 2,
            _ => x - width,
        };
        for ch in s.chars() {
            let rows = glyph(ch);
            let top = y + if descends(ch) { 2 * scale } else { 0 };
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.rect(cx + col * scale, top + r as i64 * scale, scale, scale, c);
                    }
                }
            }
            cx += 6 * scale;
        }
    }
}

fn text_width(s: &str, scale: i64) -> i64 {
    (s.chars().count() as i64 * 6 - 1).max(0) * scale
}

fn rgb(hex: &str) -> Rgb {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap_or(0);
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// One polyline per series with axes, grid, ticks, a title and a legend, as PNG bytes.
pub fn lines(title: &str, x_label: &str, series: &[Series]) -> Vec<u8> {
    encode(&draw(title, x_label, series).px, 1)
}

/// Several line charts stacked top to bottom in one PNG: (title, x label, series) each.
pub fn stacked(charts: &[(&str, &str, &[Series])]) -> Vec<u8> {
    let px: Vec<u8> = charts
        .iter()
        .flat_map(|(t, x, s)| draw(t, x, s).px)
        .collect();
    encode(&px, charts.len().max(1))
}

fn draw(title: &str, x_label: &str, series: &[Series]) -> Canvas {
    let mut c = Canvas::new();
    c.text(title, W as i64 / 2, 14, 2, 1, INK);
    let (left, right, top, base) = (
        LEFT as i64,
        (W - RIGHT) as i64,
        TOP as i64,
        (H - BOTTOM) as i64,
    );
    if let Some(Frame { x0, x1, y0, y1 }) = Frame::fit(series) {
        let px = |v: f64| left + ((v - x0) / (x1 - x0) * (right - left) as f64).round() as i64;
        let py = |v: f64| top + ((1.0 - (v - y0) / (y1 - y0)) * (base - top) as f64).round() as i64;
        let yt = ticks(y0, y1);
        for (&t, label) in yt.iter().zip(tick_labels(&yt)) {
            c.line((left, py(t)), (right, py(t)), 1, GRID);
            c.text(&label, left - 8, py(t) - 7, 2, 2, MUTED);
        }
        let xt = ticks(x0, x1);
        for (&t, label) in xt.iter().zip(tick_labels(&xt)) {
            c.line((px(t), base), (px(t), base + 5), 1, INK);
            c.text(&label, px(t), base + 10, 2, 1, MUTED);
        }
        for (k, s) in series.iter().enumerate() {
            let colour = rgb(PALETTE[k % PALETTE.len()]);
            let pts: Vec<(i64, i64)> = s
                .points
                .iter()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .map(|&(a, b)| (px(a), py(b)))
                .collect();
            for w in pts.windows(2) {
                c.line(w[0], w[1], 3, colour);
            }
            for &(x, y) in &pts {
                c.rect(x - 3, y - 3, 7, 7, colour);
            }
        }
    } else {
        c.text("no data", W as i64 / 2, (top + base) / 2, 2, 1, MUTED);
    }
    c.line((left, base), (right, base), 1, INK);
    c.line((left, top), (left, base), 1, INK);
    c.text(x_label, (left + right) / 2, base + 34, 2, 1, INK);
    let mut lx = left;
    for (k, s) in series.iter().enumerate() {
        let colour = rgb(PALETTE[k % PALETTE.len()]);
        c.rect(lx, H as i64 - 26, 14, 14, colour);
        c.text(&s.label, lx + 20, H as i64 - 26, 2, 0, INK);
        lx += 20 + text_width(&s.label, 2) + 24;
    }
    c
}

/// PNG bytes of `panels` canvases' pixels stacked vertically.
fn encode(rgb: &[u8], panels: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let rgb = if rgb.is_empty() {
        &Canvas::new().px
    } else {
        rgb
    };
    let mut enc = ::png::Encoder::new(&mut out, W as u32, (H * panels) as u32);
    enc.set_color(::png::ColorType::Rgb);
    enc.set_depth(::png::BitDepth::Eight);
    // Writing to a Vec with the canvas' own dimensions cannot fail.
    let mut w = enc.write_header().expect("PNG header into memory");
    w.write_image_data(rgb)
        .expect("PNG data of the canvas size");
    w.finish().expect("PNG end into memory");
    out
}

/// Letters that hang below the baseline: drawn two rows lower.
fn descends(c: char) -> bool {
    matches!(c, 'g' | 'p' | 'q' | 'y')
}

/// Rows of a 5×7 glyph, top first, bit 4 = leftmost column; unknown characters are a `?`.
fn glyph(c: char) -> [u8; 7] {
    match c {
        ' ' => [0; 7],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        'a' => [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F],
        'b' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E],
        'c' => [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E],
        'd' => [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F],
        'e' => [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E],
        'f' => [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08],
        'g' => [0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'i' => [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E],
        'j' => [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        'l' => [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'm' => [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11],
        'n' => [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E],
        'p' => [0x1E, 0x11, 0x11, 0x11, 0x1E, 0x10, 0x10],
        'q' => [0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x01],
        'r' => [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10],
        's' => [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E],
        't' => [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06],
        'u' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D],
        'v' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'w' => [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A],
        'x' => [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11],
        'y' => [0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'z' => [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        '-' | '−' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '@' => [0x0E, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0E],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '[' => [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E],
        ']' => [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        '\'' => [0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00],
        '*' => [0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let dec = ::png::Decoder::new(std::io::Cursor::new(bytes));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn charts_are_valid_png_with_the_series_drawn() {
        let s = [
            Series {
                label: "loss".into(),
                points: (1..=10).map(|e| (e as f64, 1.0 / e as f64)).collect(),
            },
            Series {
                label: "P@10".into(),
                points: vec![(1.0, 0.1), (10.0, 0.3)],
            },
        ];
        let png = lines("training loss", "epoch", &s);
        let (w, h, px) = decode(&png);
        assert_eq!((w, h), (W as u32, H as u32));
        let count = |c: Rgb| px.chunks(3).filter(|p| *p == c).count();
        // Both series colours are on the canvas (lines, markers and legend boxes).
        assert!(count(rgb(PALETTE[0])) > 500, "{}", count(rgb(PALETTE[0])));
        assert!(count(rgb(PALETTE[1])) > 200);
        // Text and axes are drawn in ink.
        assert!(count(INK) > 500);
        let both = stacked(&[("loss", "epoch", &s[..1]), ("precision", "epoch", &s[1..])]);
        assert_eq!(decode(&both).1, 2 * H as u32);
        // No data is a readable chart too.
        let (_, _, px) = decode(&lines("empty", "epoch", &[]));
        assert!(px.chunks(3).any(|p| p == MUTED));
    }

    #[test]
    fn glyphs_fit_five_columns_and_text_is_measured() {
        for c in (' '..='~').chain(['−']) {
            assert!(glyph(c).iter().all(|r| *r < 0x20), "{c:?}");
        }
        assert_eq!(text_width("ab", 2), 22);
        assert_eq!(text_width("", 2), 0);
    }
}
