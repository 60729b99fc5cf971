//! The loss-curve SVG written into the run directory.

use crate::error::{Result, TrainError};
use plotters::prelude::*;
use std::path::Path;

/// Plot training loss (line) and validation loss (line with points) against step.
pub fn loss_curve(path: &Path, train: &[(usize, f64)], val: &[(usize, f64)]) -> Result<()> {
    let err = |e: String| TrainError::Io { path: path.to_path_buf(), source: std::io::Error::other(e) };
    let all = train.iter().chain(val).map(|&(_, l)| l).filter(|l| l.is_finite());
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), l| (a.min(l), b.max(l)));
    if !lo.is_finite() {
        return Ok(());
    }
    let max_step = train.iter().chain(val).map(|&(s, _)| s).max().unwrap_or(1).max(1);
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("sluice training loss", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0usize..max_step, (lo - pad)..(hi + pad))
        .map_err(|e| err(e.to_string()))?;
    chart.configure_mesh().x_desc("step").y_desc("loss (nats/token)").draw().map_err(|e| err(e.to_string()))?;
    chart
        .draw_series(LineSeries::new(train.iter().copied(), &BLUE))
        .map_err(|e| err(e.to_string()))?
        .label("train")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    if !val.is_empty() {
        chart
            .draw_series(LineSeries::new(val.iter().copied(), RED.stroke_width(2)).point_size(3))
            .map_err(|e| err(e.to_string()))?
            .label("validation")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    }
    chart.configure_series_labels().border_style(BLACK).draw().map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}
