//! Order statistics over samples. Nearest-rank percentiles: with 20 cold starts, p90 is the
//! 18th fastest, an observed value rather than an interpolation.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub min: Duration,
    pub median: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// The nearest-rank `p`-th percentile (0 < p <= 100) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summarize(samples: &[Duration]) -> Option<Summary> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let (&min, &max) = (sorted.first()?, sorted.last()?);
    Some(Summary {
        n: sorted.len(),
        min,
        median: percentile(&sorted, 50.0),
        p90: percentile(&sorted, 90.0),
        p99: percentile(&sorted, 99.0),
        max,
    })
}

/// Milliseconds with three decimals: loopback timings are in the tens of microseconds.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ms_list(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank_percentiles_are_observed_values() {
        let s = summarize(&ms_list(&[5, 1, 4, 2, 3, 10, 9, 8, 7, 6])).unwrap();
        assert_eq!(s.min, Duration::from_millis(1));
        assert_eq!(s.median, Duration::from_millis(5));
        assert_eq!(s.p90, Duration::from_millis(9));
        assert_eq!(s.p99, Duration::from_millis(10));
        assert_eq!(s.max, Duration::from_millis(10));
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let s = summarize(&ms_list(&[7])).unwrap();
        assert_eq!(
            (s.median, s.p90, s.p99),
            (Duration::from_millis(7), Duration::from_millis(7), Duration::from_millis(7))
        );
    }

    #[test]
    fn no_samples_no_summary() {
        assert!(summarize(&[]).is_none());
    }
}
