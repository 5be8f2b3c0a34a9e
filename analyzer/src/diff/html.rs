//! The self-contained HTML report: the JSON report embedded in the page and
//! drawn by a small inline script (tables and SVG charts), so it opens in
//! any browser with no network and its numbers are the JSON's by
//! construction.

use super::Diff;

const TEMPLATE: &str = include_str!("report.html");

pub fn render(d: &Diff) -> String {
    let data = serde_json::to_string(&super::report::to_json(d)).expect("json");
    // Inside <script>, "</" must not appear literally.
    let data = data.replace("</", "<\\/");
    TEMPLATE.replace("/*DATA*/null", &data)
}
