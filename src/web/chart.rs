//! The daily spend chart of /usage as SVG geometry, computed here (integer pixels) so
//! the template only loops: bars with value labels, a y axis with round ticks, and
//! date labels thinned out on long ranges.

use chrono::NaiveDate;

use super::format::usd_short;
use crate::money::Nanos;

/// Canvas width.
pub const WIDTH: i64 = 760;
/// Canvas height.
pub const HEIGHT: i64 = 240;
const LEFT: i64 = 70;
const RIGHT: i64 = 10;
const TOP: i64 = 18;
const BOTTOM: i64 = 36;

/// One day's bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// Left edge.
    pub x: i64,
    /// Top edge.
    pub y: i64,
    /// Width.
    pub w: i64,
    /// Height.
    pub h: i64,
    /// Horizontal centre (labels).
    pub cx: i64,
    /// Baseline of the value label.
    pub value_y: i64,
    /// Value label (empty when the day had no spend or bars are too narrow).
    pub value: String,
    /// Date label (empty when thinned out).
    pub date: String,
    /// Tooltip.
    pub title: String,
}

/// A horizontal grid line with its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    /// Vertical position.
    pub y: i64,
    /// Baseline of its label.
    pub label_y: i64,
    /// `$0.005`
    pub label: String,
}

/// The whole chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarChart {
    /// Canvas width.
    pub width: i64,
    /// Canvas height.
    pub height: i64,
    /// Left edge of the plot (y axis).
    pub left: i64,
    /// Right end of the tick labels.
    pub label_x: i64,
    /// Top of the y axis.
    pub top: i64,
    /// Right edge of the plot.
    pub right: i64,
    /// Baseline (x axis).
    pub base: i64,
    /// Date labels' baseline.
    pub date_y: i64,
    /// Bars, one per day.
    pub bars: Vec<Bar>,
    /// Y ticks, bottom up.
    pub ticks: Vec<Tick>,
}

/// Smallest 1/2/2.5/5 × 10^k nanos at or above `max`, at least $0.001: an idle range
/// still has an axis, and every quarter tick is exact at the labels' 6 decimals.
pub fn nice_ceiling(max: i64) -> i64 {
    let max = max.max(1_000_000);
    let mut unit: i64 = 1;
    while unit.saturating_mul(10) <= max {
        unit = unit.saturating_mul(10);
    }
    for (num, den) in [(1, 1), (2, 1), (5, 2), (5, 1)] {
        let candidate = unit.saturating_mul(num) / den;
        if candidate >= max {
            return candidate;
        }
    }
    unit.saturating_mul(10)
}

/// How the plot is divided among the days.
struct Slots {
    n: i64,
    plot_w: i64,
    plot_h: i64,
    base: i64,
    top: i64,
    every: i64,
    values: bool,
}

impl Slots {
    fn bar(&self, i: i64, date: NaiveDate, spend: Nanos) -> Bar {
        let (x0, x1) = (
            LEFT + self.plot_w * i / self.n,
            LEFT + self.plot_w * (i + 1) / self.n,
        );
        let w = ((x1 - x0) * 7 / 10).max(1);
        let h = (i128::from(spend.0) * i128::from(self.plot_h) / i128::from(self.top)) as i64;
        let shown = |yes: bool, text: String| if yes { text } else { String::new() };
        Bar {
            x: x0 + (x1 - x0 - w) / 2,
            y: self.base - h,
            value_y: self.base - h - 4,
            w,
            h,
            cx: (x0 + x1) / 2,
            value: shown(self.values && spend.0 > 0, usd_short(spend)),
            date: shown(i % self.every == 0, date.format("%m-%d").to_string()),
            title: format!("{date}: {}", usd_short(spend)),
        }
    }
}

/// Lays out one bar per day.
pub fn daily_spend(days: &[(NaiveDate, Nanos)]) -> BarChart {
    let base = HEIGHT - BOTTOM;
    let plot_h = base - TOP;
    let plot_w = WIDTH - LEFT - RIGHT;
    let top = nice_ceiling(days.iter().map(|d| d.1 .0).max().unwrap_or(0));
    let n = days.len().max(1) as i64;
    let slot = Slots {
        n,
        plot_w,
        plot_h,
        base,
        top,
        every: (n + 11) / 12,
        values: n <= 31,
    };
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, (date, spend))| slot.bar(i as i64, *date, *spend))
        .collect();
    let ticks = (0..=4)
        .map(|k| Tick {
            y: base - plot_h * k / 4,
            label_y: base - plot_h * k / 4 + 4,
            label: usd_short(Nanos(top / 4 * k)),
        })
        .collect();
    BarChart {
        width: WIDTH,
        height: HEIGHT,
        left: LEFT,
        label_x: LEFT - 6,
        top: TOP - 8,
        right: WIDTH - RIGHT,
        base,
        date_y: base + 16,
        bars,
        ticks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, n).unwrap()
    }

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(0), 1_000_000);
        assert_eq!(nice_ceiling(1_000), 1_000_000);
        assert_eq!(nice_ceiling(1_000_001), 2_000_000);
        assert_eq!(nice_ceiling(2_100_000), 2_500_000);
        assert_eq!(nice_ceiling(3_000_000), 5_000_000);
        assert_eq!(nice_ceiling(7_000_000), 10_000_000);
        assert_eq!(nice_ceiling(10_000_000_001), 20_000_000_000);
    }

    #[test]
    fn an_idle_range_has_distinct_round_ticks() {
        let chart = daily_spend(&[(day(1), Nanos(0))]);
        let labels: Vec<&str> = chart.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["$0", "$0.00025", "$0.0005", "$0.00075", "$0.001"]);
    }

    #[test]
    fn bars_scale_to_the_axis() {
        let chart = daily_spend(&[
            (day(1), Nanos(5_000_000)),
            (day(2), Nanos(0)),
            (day(3), Nanos(2_500_000)),
        ]);
        let plot_h = chart.base - TOP;
        assert_eq!(chart.bars.len(), 3);
        assert_eq!(chart.bars[0].h, plot_h);
        assert_eq!(chart.bars[0].y, TOP);
        assert_eq!(chart.bars[1].h, 0);
        assert_eq!(chart.bars[2].h, plot_h / 2);
        assert_eq!(chart.bars[0].value, "$0.005");
        assert_eq!(chart.bars[1].value, "");
        assert_eq!(chart.bars[2].date, "01-03");
        assert!(chart
            .bars
            .iter()
            .all(|b| b.x >= LEFT && b.x + b.w <= WIDTH - RIGHT));
        assert_eq!(chart.ticks.last().unwrap().label, "$0.005");
        assert_eq!(chart.ticks[0].y, chart.base);
    }

    #[test]
    fn long_ranges_thin_out_labels() {
        let days: Vec<_> = (0..90)
            .map(|i| (day(1) + chrono::Duration::days(i), Nanos(i * 1000)))
            .collect();
        let chart = daily_spend(&days);
        assert_eq!(chart.bars.iter().filter(|b| !b.date.is_empty()).count(), 12);
        assert!(chart.bars.iter().all(|b| b.value.is_empty() && b.w >= 1));
    }
}
