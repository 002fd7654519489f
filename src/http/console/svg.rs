//! Charts drawn on the server as SVG, put in the page as they are: readable
//! without a script, styled by attributes alone (the CSP allows no inline
//! style), each with a title and a legend. Values are rates from 0 to 1; a
//! rate with nothing to judge (`None`) draws nothing and is labelled `—`.

use std::fmt::Write;

/// One series of a chart: its name in the legend and its colour.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    pub name: &'static str,
    pub colour: &'static str,
}

/// The three rates, as every chart of the figures draws them.
pub const RATES: [Series; 3] = [
    Series {
        name: "响应率",
        colour: "#0b5cad",
    },
    Series {
        name: "解决率",
        colour: "#1a7f37",
    },
    Series {
        name: "满意率",
        colour: "#bf8700",
    },
];

const WIDTH: f64 = 720.0;
const FONT: &str = "system-ui, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', sans-serif";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

fn clamp(value: f64) -> f64 {
    if value.is_finite() {
        value.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn open(out: &mut String, id: &str, title: &str, height: f64) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{id}" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{id}-title" font-family="{FONT}" font-size="13"><title id="{id}-title">{}</title>"#,
        escape(title)
    );
}

fn legend(out: &mut String, series: &[Series], y: f64) {
    let mut x = 10.0;
    for s in series {
        let _ = write!(
            out,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{y}">{}</text>"#,
            y - 11.0,
            s.colour,
            x + 16.0,
            escape(s.name)
        );
        x += 90.0;
    }
}

/// Horizontal bars: for each label a group of one bar per series.
/// `values[label][series]`.
pub fn bars(
    id: &str,
    title: &str,
    labels: &[String],
    series: &[Series],
    values: &[Vec<Option<f64>>],
) -> String {
    const LABEL_WIDTH: f64 = 150.0;
    const BAR: f64 = 12.0;
    const GAP: f64 = 10.0;
    let span = WIDTH - LABEL_WIDTH - 60.0;
    let group = BAR * series.len() as f64 + GAP;
    let top = 30.0;
    let height = top + group * labels.len().max(1) as f64 + 10.0;
    let mut out = String::new();
    open(&mut out, id, title, height);
    legend(&mut out, series, 18.0);
    for (i, label) in labels.iter().enumerate() {
        let y0 = top + group * i as f64;
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            LABEL_WIDTH - 8.0,
            y0 + BAR * series.len() as f64 / 2.0 + 4.0,
            escape(label)
        );
        for (j, s) in series.iter().enumerate() {
            let value = values.get(i).and_then(|v| v.get(j)).copied().flatten();
            let y = y0 + BAR * j as f64;
            let width = value.map_or(0.0, |v| clamp(v) * span);
            if value.is_some() {
                let _ = write!(
                    out,
                    r#"<rect x="{LABEL_WIDTH}" y="{y}" width="{width:.1}" height="{}" fill="{}"><title>{} {} {}</title></rect>"#,
                    BAR - 2.0,
                    s.colour,
                    escape(label),
                    escape(s.name),
                    percent(value)
                );
            }
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{}" font-size="11">{}</text>"#,
                LABEL_WIDTH + width + 4.0,
                y + BAR - 3.0,
                percent(value)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// Lines over `labels` (the weeks), one per series, from 0% to 100%; a
/// missing value breaks its line. `values[series][label]`.
pub fn lines(
    id: &str,
    title: &str,
    labels: &[String],
    series: &[Series],
    values: &[Vec<Option<f64>>],
) -> String {
    const LEFT: f64 = 50.0;
    const TOP: f64 = 36.0;
    const PLOT: f64 = 200.0;
    let height = TOP + PLOT + 40.0;
    let right = WIDTH - 20.0;
    let step = if labels.len() > 1 {
        (right - LEFT) / (labels.len() - 1) as f64
    } else {
        0.0
    };
    let x_of = |i: usize| LEFT + step * i as f64;
    let y_of = |v: f64| TOP + PLOT * (1.0 - clamp(v));
    let mut out = String::new();
    open(&mut out, id, title, height);
    legend(&mut out, series, 18.0);
    for tick in [0.0, 0.5, 1.0] {
        let y = y_of(tick);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y}" x2="{right}" y2="{y}" stroke="#d0d7de"/><text x="{}" y="{}" text-anchor="end" font-size="11">{}</text>"##,
            LEFT - 6.0,
            y + 4.0,
            percent(Some(tick))
        );
    }
    for (i, label) in labels.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"#,
            x_of(i),
            TOP + PLOT + 18.0,
            escape(label)
        );
    }
    for (j, s) in series.iter().enumerate() {
        let points: Vec<Option<(f64, f64)>> = (0..labels.len())
            .map(|i| {
                values
                    .get(j)
                    .and_then(|v| v.get(i))
                    .copied()
                    .flatten()
                    .map(|v| (x_of(i), y_of(v)))
            })
            .collect();
        for run in points.split(Option::is_none).filter(|r| r.len() > 1) {
            let path: Vec<String> = run
                .iter()
                .flatten()
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect();
            let _ = write!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
                path.join(" "),
                s.colour
            );
        }
        for (i, point) in points.iter().enumerate() {
            if let Some((x, y)) = point {
                let value = values.get(j).and_then(|v| v.get(i)).copied().flatten();
                let _ = write!(
                    out,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{}"><title>{} {} {}</title></circle>"#,
                    s.colour,
                    escape(&labels[i]),
                    escape(s.name),
                    percent(value)
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(svg: &str, after: &str, name: &str) -> f64 {
        let at = svg
            .find(after)
            .unwrap_or_else(|| panic!("{after} in {svg}"));
        let rest = &svg[..at];
        let start = rest.rfind(&format!("{name}=\"")).unwrap() + name.len() + 2;
        rest[start..].split('"').next().unwrap().parse().unwrap()
    }

    #[test]
    fn bars_are_as_long_as_their_rate_and_labels_are_escaped() {
        let labels = vec!["住建<局>".to_owned(), "教育".to_owned()];
        let values = vec![
            vec![Some(1.0), Some(0.5), None],
            vec![Some(0.25), Some(0.0), Some(0.75)],
        ];
        let svg = bars("b", "三率", &labels, &RATES, &values);
        assert!(svg.contains("住建&lt;局&gt;"), "{svg}");
        assert!(!svg.contains("住建<局>"));
        let full = attribute(&svg, "<title>住建&lt;局&gt; 响应率 100%", "width");
        let half = attribute(&svg, "<title>住建&lt;局&gt; 解决率 50%", "width");
        let quarter = attribute(&svg, "<title>教育 响应率 25%", "width");
        assert!((full - 2.0 * half).abs() < 0.2, "{full} {half}");
        assert!((full - 4.0 * quarter).abs() < 0.2, "{full} {quarter}");
        // Nothing to judge: no bar, a dash.
        assert!(!svg.contains("住建&lt;局&gt; 满意率"), "{svg}");
        assert!(svg.contains(">—</text>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("style="), "the CSP allows no inline style");
    }

    #[test]
    fn a_missing_week_breaks_the_line_and_values_map_to_height() {
        let labels: Vec<String> = ["W1", "W2", "W3", "W4"].map(String::from).to_vec();
        let values = vec![
            vec![Some(0.0), Some(1.0), None, Some(0.5)],
            vec![Some(0.5), Some(0.5), Some(0.5), Some(0.5)],
            vec![None, None, None, None],
        ];
        let svg = lines("t", "趋势", &labels, &RATES, &values);
        // The first series: one line of two points, then a lone point.
        assert_eq!(svg.matches("stroke=\"#0b5cad\"").count(), 1, "{svg}");
        assert_eq!(svg.matches("stroke=\"#1a7f37\"").count(), 1);
        assert_eq!(svg.matches("stroke=\"#bf8700\"").count(), 0);
        let low = attribute(&svg, "<title>W1 响应率 0%", "cy");
        let high = attribute(&svg, "<title>W2 响应率 100%", "cy");
        let mid = attribute(&svg, "<title>W4 响应率 50%", "cy");
        assert!(high < mid && mid < low, "{high} {mid} {low}");
        assert!(((low + high) / 2.0 - mid).abs() < 0.2);
        assert_eq!(svg.matches("<circle").count(), 7);
    }
}
