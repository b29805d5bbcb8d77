//! The report's charts as SVG (plotters): grouped bars with the spread of
//! the runs drawn as a whisker, and lines against scale.

use crate::results::Stat;
use plotters::prelude::*;
use std::path::Path;

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];
const SIZE: (u32, u32) = (720, 400);

type Error = Box<dyn std::error::Error>;

/// A series of a chart: its name and one value per category (or point).
pub struct Series<T> {
    pub name: String,
    pub values: Vec<T>,
}

/// Bars per category, one per series, each with a min-max whisker.
pub fn bars(
    path: &Path,
    title: &str,
    unit: &str,
    categories: &[String],
    series: &[Series<Option<Stat>>],
) -> Result<(), Error> {
    let top = series.iter().flat_map(|s| s.values.iter().flatten()).map(|s| s.max).fold(0.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let n = categories.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n, 0.0..top.max(1.0))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(categories.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 {
                categories.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(unit)
        .draw()?;
    let width = 0.8 / series.len().max(1) as f64;
    for (k, s) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let left = |i: usize| i as f64 + 0.1 + k as f64 * width;
        chart
            .draw_series(s.values.iter().enumerate().filter_map(|(i, v)| {
                v.map(|v| Rectangle::new([(left(i), 0.0), (left(i) + width * 0.9, v.median)], color.filled()))
            }))?
            .label(s.name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        chart.draw_series(s.values.iter().enumerate().filter_map(|(i, v)| {
            let mid = left(i) + width * 0.45;
            v.map(|v| PathElement::new(vec![(mid, v.min), (mid, v.max)], BLACK.stroke_width(2)))
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// One line per series over `x` (log scale), points marked.
pub fn lines(path: &Path, title: &str, x_desc: &str, unit: &str, series: &[Series<(f64, f64)>]) -> Result<(), Error> {
    let points = || series.iter().flat_map(|s| s.values.iter());
    let (x0, x1) = points().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let top = points().map(|p| p.1).fold(0.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x0.min(x1) * 0.8..x1.max(x0) * 1.25).log_scale(), 0.0..top.max(1.0))?;
    chart.configure_mesh().x_desc(x_desc).y_desc(unit).draw()?;
    for (k, s) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        chart
            .draw_series(LineSeries::new(s.values.iter().copied(), color.stroke_width(2)))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        chart.draw_series(s.values.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
