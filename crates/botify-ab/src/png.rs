//! PNG line charts drawn with plotters into a pixel buffer, with a bundled font (DejaVu Sans
//! Mono, `fonts/`), so no system font library is needed; encoded with the png crate.

use crate::chart::{Frame, PALETTE, Series};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

const W: u32 = 720;
/// Height of one chart panel.
const H: u32 = 340;
const FONT: &[u8] = include_bytes!("../fonts/DejaVuSansMono.ttf");
/// The family name the bundled font is registered under.
const FAMILY: &str = "sans-serif";

/// Registers the bundled font once per process.
fn font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // The font is ours and valid; a failure would only leave labels undrawn.
    ONCE.call_once(|| {
        let _ = register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// One line chart with axes, grid, ticks, a title and a legend, as PNG bytes.
pub fn lines(title: &str, x_label: &str, series: &[Series]) -> Vec<u8> {
    stacked(&[(title, x_label, series)])
}

/// Several line charts stacked top to bottom in one PNG: (title, x label, series) each.
pub fn stacked(charts: &[(&str, &str, &[Series])]) -> Vec<u8> {
    font();
    let panels = charts.len().max(1);
    let height = H * panels as u32;
    let mut px = vec![255u8; (W * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut px, (W, height)).into_drawing_area();
        let areas = root.split_evenly((panels, 1));
        for (area, (title, x_label, series)) in areas.iter().zip(charts) {
            // Drawing into memory fails only on impossible geometry; the panel then stays blank.
            let _ = draw(area, title, x_label, series);
        }
        let _ = root.present();
    }
    encode(&px, W, height)
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn colour(k: usize) -> RGBColor {
    let hex = PALETTE[k % PALETTE.len()].trim_start_matches('#');
    let c = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
    RGBColor(c(0), c(2), c(4))
}

fn draw(
    area: &Area,
    title: &str,
    x_label: &str,
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    let Some(Frame { x0, x1, y0, y1 }) = Frame::fit(series) else {
        area.titled(title, (FAMILY, 18))?.draw(&Text::new(
            "no data",
            ((W / 2) as i32 - 30, (H / 2) as i32 - 30),
            (FAMILY, 16),
        ))?;
        return Ok(());
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(230, 230, 230))
        .draw()?;
    for (k, s) in series.iter().enumerate() {
        let c = colour(k);
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
            .label(s.label.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
    }
    if !series.is_empty() {
        chart
            .configure_series_labels()
            .label_font((FAMILY, 13))
            .background_style(WHITE.mix(0.8))
            .border_style(RGBColor(200, 200, 200))
            .position(SeriesLabelPosition::LowerRight)
            .draw()?;
    }
    Ok(())
}

/// PNG bytes of an RGB buffer.
fn encode(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = ::png::Encoder::new(&mut out, width, height);
    enc.set_color(::png::ColorType::Rgb);
    enc.set_depth(::png::BitDepth::Eight);
    // Writing a buffer of the header's own dimensions into memory cannot fail.
    let written = enc
        .write_header()
        .and_then(|mut w| w.write_image_data(rgb).and_then(|()| w.finish()));
    debug_assert!(written.is_ok());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let d = ::png::Decoder::new(std::io::Cursor::new(png));
        let mut r = d.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        (info.width, info.height, buf)
    }

    #[test]
    fn charts_are_valid_pngs_with_coloured_lines_and_text() {
        let s = [
            Series {
                label: "training".into(),
                points: vec![(1.0, 0.9), (2.0, 0.5), (3.0, 0.3)],
            },
            Series {
                label: "validation".into(),
                points: vec![(1.0, 0.95), (2.0, f64::NAN), (3.0, 0.4)],
            },
        ];
        let png = stacked(&[("loss", "epoch", &s), ("empty", "epoch", &[])]);
        let (w, h, px) = decode(&png);
        assert_eq!((w, h), (W, 2 * H));
        let rgb = |c: RGBColor| px.chunks(3).filter(|p| p == &[c.0, c.1, c.2]).count();
        // Both series' colours are drawn, and dark text pixels exist (title, ticks, legend).
        assert!(rgb(colour(0)) > 50 && rgb(colour(1)) > 50);
        assert!(px.chunks(3).filter(|p| p.iter().all(|&v| v < 80)).count() > 200);
        assert_eq!(decode(&lines("t", "x", &[])).0, W);
    }
}
