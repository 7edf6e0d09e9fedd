//! `GET /api/analytics/summary`: the caller's organization in figures, read from at most 16
//! counter items (one `BatchGetItem`) whatever the organization holds. `format=csv` gives the
//! same figures as one long table for spreadsheets.
//!
//! No access record is written: the summary serves counts and sums, never a record or an id,
//! so there is nothing personal whose reading an auditor would need to trace.

use crate::counters::{PENDING, TOTALS, month_item, month_of};
use crate::table::{AnalyticsTable, Counters};
use chrono::{Datelike, Duration, NaiveDate, Utc};
use hub_appointments::Status as AppointmentStatus;
use hub_contacts::ContactType;
use hub_documents::DocumentType;
use hub_shared::auth::{Permission, Tenant};
use hub_shared::domain::{Choice, Date, FIRST_YEAR, LAST_YEAR};
use hub_shared::error::{AppError, AppResult, FieldError};
use hub_shared::http::{ApiRequest, Reply, Services};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The longest range of days the per-day figures cover (a leap year).
pub const MAX_RANGE_DAYS: i64 = 366;
/// Without `from`, the range is the 30 days ending `to` (today by default).
pub const DEFAULT_RANGE_DAYS: i64 = 30;
const PARAMETERS: &[&str] = &["from", "to", "format"];

/// The days the per-day figures cover, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Range {
    /// `from`/`to` (`YYYY-MM-DD`); every problem is reported at once as a 422.
    pub fn parse(from: Option<&str>, to: Option<&str>, today: NaiveDate) -> AppResult<Self> {
        let mut errors = Vec::new();
        let mut date = |name: &str, raw: Option<&str>| match raw {
            None => None,
            Some(raw) => Date::parse(raw)
                .filter(|d| (FIRST_YEAR..=LAST_YEAR).contains(&d.year()))
                .map(|d| d.as_naive())
                .or_else(|| {
                    errors.push(FieldError::new(
                        name,
                        "invalid_format",
                        format!("must be a date (YYYY-MM-DD) in the years {FIRST_YEAR} to {LAST_YEAR}"),
                    ));
                    None
                }),
        };
        let (from_given, to_given) = (date("from", from), date("to", to));
        if !errors.is_empty() {
            return Err(AppError::validation(errors));
        }
        let to = to_given.unwrap_or(today);
        let from = from_given.unwrap_or(to - Duration::days(DEFAULT_RANGE_DAYS - 1));
        if to < from {
            return Err(AppError::field("to", "invalid_value", "must not be before from"));
        }
        if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
            return Err(AppError::field(
                "to",
                "range_too_long",
                format!("the range covers at most {MAX_RANGE_DAYS} days"),
            ));
        }
        Ok(Self { from, to })
    }

    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.from.iter_days().take_while(|d| *d <= self.to)
    }

    /// `YYYY-MM` of every month the range touches (at most 13).
    pub fn months(&self) -> Vec<String> {
        let mut months: Vec<String> = Vec::new();
        for day in self.days() {
            let month = month_of(day);
            if months.last() != Some(&month) {
                months.push(month);
            }
        }
        months
    }
}

/// The counter items a summary reads: the totals, what is owed, the range's months and the
/// current month (for what fell due earlier this month). At most 2 + 13 + 1.
pub fn items_to_read(range: &Range, today: NaiveDate) -> Vec<String> {
    let mut items = vec![TOTALS.to_string(), PENDING.to_string()];
    items.extend(range.months().iter().map(|m| month_item(m)));
    let current = month_item(&month_of(today));
    if !items.contains(&current) {
        items.push(current);
    }
    items
}

/// `hundredths` as a decimal string with two decimals: exact, whatever the size.
pub fn decimal(hundredths: i128) -> String {
    let sign = if hundredths < 0 { "-" } else { "" };
    let abs = hundredths.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// `part / whole` with four decimals, rounded half up; `None` when `whole` is zero.
pub fn ratio(part: i128, whole: i128) -> Option<String> {
    if whole <= 0 {
        return None;
    }
    let scaled = (part * 20_000 + whole) / (2 * whole);
    Some(format!("{}.{:04}", scaled / 10_000, scaled % 10_000))
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AnalyticsSummary))]
pub struct Summary {
    pub as_of: NaiveDate,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub contacts: Contacts,
    pub appointments: Appointments,
    pub revenue: Vec<Revenue>,
    pub receivables: Vec<Receivable>,
    pub documents: Documents,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SummaryContacts))]
pub struct Contacts {
    pub total: i128,
    pub by_type: BTreeMap<&'static str, i128>,
    pub by_consent: BTreeMap<&'static str, i128>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SummaryAppointments))]
pub struct Appointments {
    pub total: i128,
    pub by_status: BTreeMap<&'static str, i128>,
    pub in_range: InRange,
    pub per_day: Vec<Day>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SummaryInRange))]
pub struct InRange {
    pub total: i128,
    pub by_status: BTreeMap<&'static str, i128>,
    /// `no_show / (completed + no_show)` of the appointments starting in the range.
    pub no_show_rate: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SummaryDay))]
pub struct Day {
    pub date: NaiveDate,
    pub total: i128,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SummaryRevenue))]
pub struct Revenue {
    pub month: String,
    pub currency: String,
    pub payments: String,
    pub refunds: String,
    pub net: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SummaryReceivable))]
pub struct Receivable {
    pub currency: String,
    pub pending_amount: String,
    pub pending_count: i128,
    pub overdue_amount: String,
    pub overdue_count: i128,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SummaryDocuments))]
pub struct Documents {
    pub total: i128,
    pub by_type: BTreeMap<&'static str, i128>,
    pub pending_approval: i128,
    pub storage_bytes: i128,
}

fn by<C: Choice>(counters: &Counters, item: &str, prefix: &str) -> BTreeMap<&'static str, i128> {
    C::ALL.iter().map(|v| (*v, counters.get(item, &format!("{prefix}{v}")))).collect()
}

impl Summary {
    /// The figures from the counters read (see `items_to_read`).
    pub fn compute(counters: &Counters, range: &Range, today: NaiveDate) -> Self {
        let statuses = AppointmentStatus::ALL;
        let per_day: Vec<Day> = range
            .days()
            .map(|d| Day {
                date: d,
                total: counters.get(&month_item(&month_of(d)), &format!("appointments#{:02}", d.day())),
            })
            .collect();
        let mut range_status: BTreeMap<&'static str, i128> = statuses.iter().map(|s| (*s, 0)).collect();
        for day in range.days() {
            for status in statuses {
                *range_status.entry(status).or_default() +=
                    counters.get(&month_item(&month_of(day)), &format!("appointments#{:02}#{status}", day.day()));
            }
        }
        let no_show = range_status.get("no_show").copied().unwrap_or(0);
        let completed = range_status.get("completed").copied().unwrap_or(0);
        Self {
            as_of: today,
            from: range.from,
            to: range.to,
            contacts: Contacts {
                total: counters.get(TOTALS, "contacts"),
                by_type: by::<ContactType>(counters, TOTALS, "contacts#type#"),
                by_consent: ["given", "not_given"]
                    .into_iter()
                    .map(|c| (c, counters.get(TOTALS, &format!("contacts#consent#{c}"))))
                    .collect(),
            },
            appointments: Appointments {
                total: counters.get(TOTALS, "appointments"),
                by_status: by::<AppointmentStatus>(counters, TOTALS, "appointments#status#"),
                in_range: InRange {
                    total: per_day.iter().map(|d| d.total).sum(),
                    by_status: range_status,
                    no_show_rate: ratio(no_show, completed + no_show),
                },
                per_day,
            },
            revenue: revenue(counters, range),
            receivables: receivables(counters, today),
            documents: Documents {
                total: counters.get(TOTALS, "documents"),
                by_type: by::<DocumentType>(counters, TOTALS, "documents#type#"),
                pending_approval: counters.get(TOTALS, "documents#pending_approval"),
                storage_bytes: counters.get(TOTALS, "documents#storage_bytes"),
            },
        }
    }

    /// One long table: `section,metric,period,currency,value`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("section,metric,period,currency,value\r\n");
        let mut row = |section: &str, metric: &str, period: &str, currency: &str, value: &str| {
            let cells = [section, metric, period, currency, value].map(csv_cell);
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        };
        let range = format!("{}/{}", self.from, self.to);
        row("contacts", "total", "", "", &self.contacts.total.to_string());
        for (t, n) in &self.contacts.by_type {
            row("contacts", &format!("type:{t}"), "", "", &n.to_string());
        }
        for (c, n) in &self.contacts.by_consent {
            row("contacts", &format!("consent:{c}"), "", "", &n.to_string());
        }
        let a = &self.appointments;
        row("appointments", "total", "", "", &a.total.to_string());
        for (s, n) in &a.by_status {
            row("appointments", &format!("status:{s}"), "", "", &n.to_string());
        }
        row("appointments", "total", &range, "", &a.in_range.total.to_string());
        for (s, n) in &a.in_range.by_status {
            row("appointments", &format!("status:{s}"), &range, "", &n.to_string());
        }
        row("appointments", "no_show_rate", &range, "", a.in_range.no_show_rate.as_deref().unwrap_or(""));
        for d in &a.per_day {
            row("appointments", "per_day", &d.date.to_string(), "", &d.total.to_string());
        }
        for r in &self.revenue {
            row("revenue", "payments", &r.month, &r.currency, &r.payments);
            row("revenue", "refunds", &r.month, &r.currency, &r.refunds);
            row("revenue", "net", &r.month, &r.currency, &r.net);
        }
        let as_of = self.as_of.to_string();
        for r in &self.receivables {
            row("receivables", "pending_amount", &as_of, &r.currency, &r.pending_amount);
            row("receivables", "pending_count", &as_of, &r.currency, &r.pending_count.to_string());
            row("receivables", "overdue_amount", &as_of, &r.currency, &r.overdue_amount);
            row("receivables", "overdue_count", &as_of, &r.currency, &r.overdue_count.to_string());
        }
        let d = &self.documents;
        row("documents", "total", "", "", &d.total.to_string());
        for (t, n) in &d.by_type {
            row("documents", &format!("type:{t}"), "", "", &n.to_string());
        }
        row("documents", "pending_approval", "", "", &d.pending_approval.to_string());
        row("documents", "storage_bytes", "", "", &d.storage_bytes.to_string());
        out
    }
}

/// RFC 4180: a cell holding a comma, a quote or a line break is quoted. A leading `=`, `+`,
/// `-` or `@` that is not a number is prefixed with `'` so a spreadsheet does not run it.
fn csv_cell(raw: &str) -> String {
    let formula = raw.starts_with(['=', '+', '@']) || (raw.starts_with('-') && raw.parse::<f64>().is_err());
    let text = if formula { format!("'{raw}") } else { raw.to_string() };
    if text.contains([',', '"', '\r', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// Revenue of the range's months, per currency with any movement, by month then currency.
fn revenue(counters: &Counters, range: &Range) -> Vec<Revenue> {
    let mut out = Vec::new();
    for month in range.months() {
        let mut by_currency: BTreeMap<&str, (i128, i128)> = BTreeMap::new();
        for (attribute, value) in counters.item(&month_item(&month)) {
            if let Some(currency) = attribute.strip_prefix("payments#") {
                by_currency.entry(currency).or_default().0 += value;
            } else if let Some(currency) = attribute.strip_prefix("refunds#") {
                by_currency.entry(currency).or_default().1 += value;
            }
        }
        for (currency, (payments, refunds)) in by_currency {
            if payments != 0 || refunds != 0 {
                out.push(Revenue {
                    month: month.clone(),
                    currency: currency.to_string(),
                    payments: decimal(payments),
                    refunds: decimal(refunds),
                    net: decimal(payments - refunds),
                });
            }
        }
    }
    out
}

/// What is owed per currency, and the part past its due date as of `today`: due months before
/// this one from `PENDING`, days before today from this month's item.
fn receivables(counters: &Counters, today: NaiveDate) -> Vec<Receivable> {
    #[derive(Default)]
    struct Owed {
        amount: i128,
        count: i128,
        overdue_amount: i128,
        overdue_count: i128,
    }
    let this_month = month_of(today);
    let mut owed: BTreeMap<String, Owed> = BTreeMap::new();
    for (attribute, value) in counters.item(PENDING) {
        let mut parts = attribute.splitn(3, '#');
        let (Some(what), Some(currency), Some(bucket)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let entry = owed.entry(currency.to_string()).or_default();
        let overdue = bucket != "none" && bucket < this_month.as_str();
        match what {
            "amount" => {
                entry.amount += value;
                entry.overdue_amount += if overdue { value } else { 0 };
            }
            "count" => {
                entry.count += value;
                entry.overdue_count += if overdue { value } else { 0 };
            }
            _ => {}
        }
    }
    let today_day = format!("{:02}", today.day());
    for (attribute, value) in counters.item(&month_item(&this_month)) {
        let (amount, rest) = match (attribute.strip_prefix("pending#"), attribute.strip_prefix("pending_count#")) {
            (Some(rest), _) => (true, rest),
            (_, Some(rest)) => (false, rest),
            _ => continue,
        };
        let Some((currency, day)) = rest.split_once('#') else { continue };
        if day < today_day.as_str() {
            let entry = owed.entry(currency.to_string()).or_default();
            if amount { entry.overdue_amount += value } else { entry.overdue_count += value }
        }
    }
    owed.into_iter()
        .filter(|(_, o)| o.amount != 0 || o.count != 0)
        .map(|(currency, o)| Receivable {
            currency,
            pending_amount: decimal(o.amount),
            pending_count: o.count,
            overdue_amount: decimal(o.overdue_amount),
            overdue_count: o.overdue_count,
        })
        .collect()
}

/// Reads the counters a summary needs and computes it; also returns how many items were read.
pub async fn load(
    table: &AnalyticsTable,
    tenant: &Tenant,
    range: &Range,
    today: NaiveDate,
) -> AppResult<(Summary, usize)> {
    let (counters, read) = table.load(tenant.org, &items_to_read(range, today)).await?;
    Ok((Summary::compute(&counters, range, today), read))
}

/// The handler (any role may read it: `viewer`, `auditor` and `read_only` included).
pub async fn summary(
    _services: Arc<Services>,
    tenant: Tenant,
    request: ApiRequest,
    table: Arc<AnalyticsTable>,
) -> AppResult<Reply> {
    tenant.require(Permission::Read)?;
    request.only_parameters(PARAMETERS)?;
    let csv = match request.query("format") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(AppError::invalid_param("format", "must be json or csv")),
    };
    let today = Utc::now().date_naive();
    let range = Range::parse(request.query("from"), request.query("to"), today)?;
    let (summary, _) = load(&table, &tenant, &range, today).await?;
    if csv {
        let name = format!("attachment; filename=\"analytics-{}-{}.csv\"", range.from, range.to);
        return Ok(Reply::text(summary.to_csv(), "text/csv; charset=utf-8")
            .with_header(http::header::CONTENT_DISPOSITION, &name));
    }
    Ok(Reply::ok(json!(summary)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn a_range_defaults_to_the_last_thirty_days_and_is_bounded() {
        let today = date("2026-03-10");
        let r = Range::parse(None, None, today).unwrap();
        assert_eq!((r.from, r.to), (date("2026-02-09"), today));
        assert!(Range::parse(Some("2025-01-01"), Some("2025-12-31"), today).is_ok());
        assert!(Range::parse(Some("2024-01-01"), Some("2024-12-31"), today).is_ok(), "a leap year is 366 days");
        let too_long = Range::parse(Some("2024-01-01"), Some("2025-01-01"), today).err().unwrap();
        assert_eq!((too_long.status(), too_long.field_errors()[0].code), (422, "range_too_long"));
        let reversed = Range::parse(Some("2025-02-01"), Some("2025-01-01"), today).err().unwrap();
        assert_eq!(reversed.status(), 422);
        let both = Range::parse(Some("2025-13-01"), Some("yesterday"), today).err().unwrap();
        assert_eq!(both.field_errors().len(), 2, "every problem at once");
    }

    #[test]
    fn a_summary_reads_at_most_sixteen_items_whatever_the_range() {
        let today = date("2026-03-10");
        let longest = Range::parse(Some("2024-01-15"), Some("2025-01-14"), today).unwrap();
        let items = items_to_read(&longest, today);
        assert_eq!(items.len(), 16);
        let this_month = Range::parse(Some("2026-03-01"), Some("2026-03-10"), today).unwrap();
        assert_eq!(items_to_read(&this_month, today), ["TOTALS", "PENDING", "MONTH#2026-03"]);
    }

    #[test]
    fn decimals_and_ratios_are_exact_strings() {
        assert_eq!(decimal(0), "0.00");
        assert_eq!(decimal(-5), "-0.05");
        assert_eq!(decimal(123_456_789_012_345_678_901), "1234567890123456789.01");
        assert_eq!(ratio(1, 3).as_deref(), Some("0.3333"));
        assert_eq!(ratio(2, 3).as_deref(), Some("0.6667"));
        assert_eq!(ratio(1, 1).as_deref(), Some("1.0000"));
        assert_eq!(ratio(0, 0), None);
    }

    #[test]
    fn csv_cells_are_quoted_and_never_run_as_formulas() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("-12.50"), "-12.50");
    }

    #[test]
    fn overdue_is_what_fell_due_before_today() {
        let today = date("2026-03-10");
        let mut c = crate::counters::Contribution::default();
        c.add(PENDING, "amount#EUR#2026-02", 1000);
        c.add(PENDING, "count#EUR#2026-02", 1);
        c.add(PENDING, "amount#EUR#2026-03", 700);
        c.add(PENDING, "count#EUR#2026-03", 2);
        c.add("MONTH#2026-03", "pending#EUR#09", 300);
        c.add("MONTH#2026-03", "pending_count#EUR#09", 1);
        c.add("MONTH#2026-03", "pending#EUR#10", 400);
        c.add("MONTH#2026-03", "pending_count#EUR#10", 1);
        c.add(PENDING, "amount#USD#none", 5);
        c.add(PENDING, "count#USD#none", 1);
        let r = receivables(&Counters::from_contribution(&c), today);
        assert_eq!(r[0].currency, "EUR");
        assert_eq!((r[0].pending_amount.as_str(), r[0].pending_count), ("17.00", 3));
        assert_eq!((r[0].overdue_amount.as_str(), r[0].overdue_count), ("13.00", 2), "due today is not overdue");
        assert_eq!((r[1].currency.as_str(), r[1].overdue_amount.as_str()), ("USD", "0.00"));
    }
}
