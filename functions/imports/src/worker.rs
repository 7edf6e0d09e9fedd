//! `imports-worker`: one chunk of an import per message.
//!
//! A chunk reads a bounded window of the file from the job's byte offset (a ranged GetObject,
//! grown up to [`Limits::max_window`] when one row does not fit), takes its complete rows (at
//! most [`Limits::rows_per_chunk`], and fewer when [`Limits::budget`] runs out), writes them
//! (up to [`Limits::concurrency`] at a time; appointments, whose schedule check depends on which
//! row commits first, one group at a time in file order; a write that meets contention is
//! retried, then fails the chunk, never the row), writes its part of the report, then commits
//! itself on the job item, conditioned on the revision read: a duplicated or redelivered
//! message finds the job moved on and changes nothing. Only then is the next chunk's message
//! sent, so chunks run one after another.
//!
//! A crash anywhere before the commit is retried by SQS from the same offset: rows already
//! written are recognised (a created row's id is derived from the import and the row; an
//! updated row left a marker in its own transaction), so no row is written twice and the
//! retried chunk's report part is the same. A part is named by its chunk and where it ended,
//! and the job commits where each chunk ended: a duplicate that covered fewer rows and lost the
//! commit wrote another object, never the committed one, and the report is assembled from the
//! committed parts only. A crash between the commit and the send is
//! healed by the redelivered message, which sends the next one if the job says it was not.

use crate::bulk::Bulk;
use crate::ids::{row_id, row_of};
use crate::job::{Counts, Format, Job, MAX_ROWS, State, Target};
use crate::queue::{ChunkMessage, Sender};
use crate::rows::{Row, csv_header, cut_csv, cut_ndjson, map_header, ndjson_lines};
use hub_appointments::Appointment;
use hub_contacts::Contact;
use hub_shared::auth::{OrgId, Tenant};
use hub_shared::domain::Timestamp;
use hub_shared::domain::spec::FieldSpec;
use hub_shared::error::{AppError, AppResult};
use hub_shared::store::{BatchFailure, Entity, Record, Store, Unique};
use hub_transactions::Transaction;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The first line of every report.
pub const REPORT_HEADER: &str = "row,status,id,problem\n";

/// How much one chunk takes on.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes read per window.
    pub window: u64,
    /// A window grows (doubling) up to this when a single row does not fit; a longer row fails
    /// the import.
    pub max_window: u64,
    pub rows_per_chunk: usize,
    /// Time a chunk may spend writing before it commits what it wrote: far below the worker's
    /// timeout (template.yaml), so an invocation never nears Lambda's 15 minutes.
    pub budget: Duration,
    /// Writes in flight at once (each a transaction of up to `rows_per_transaction` rows).
    pub concurrency: usize,
    /// Rows that only create records are committed this many to a `TransactWriteItems`, all or
    /// none: one request instead of one per row (DynamoDB's round trip, and a local emulator
    /// serving one request at a time, cost the same for 1 row as for 8). A contact stages at
    /// most 9 items (the record, 2 lists, 4 search entries, 2 unique values), so 8 rows stay
    /// under the transaction's 100. A group that cannot commit whole is written row by row.
    pub rows_per_transaction: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            window: 1024 * 1024,
            max_window: 16 * 1024 * 1024,
            rows_per_chunk: 1000,
            budget: Duration::from_secs(60),
            concurrency: 12,
            rows_per_transaction: 8,
        }
    }
}

/// What a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A chunk of rows was committed; the next message was sent.
    Chunk { chunk: u64, rows: usize },
    /// The report was assembled: the import is done.
    Finished,
    /// The import failed as a whole (an unknown column, a row beyond the caps).
    Failed(String),
    /// The message names no current chunk (done already, or another worker committed it).
    Stale,
}

/// What happened to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Created(Uuid),
    Updated(Uuid),
    Skipped(String),
    Failed(String),
    /// Dry run: the row would create a record / update this one.
    WouldCreate,
    WouldUpdate(Uuid),
}

pub struct Worker<S> {
    pub store: Store,
    pub bulk: Bulk,
    pub sender: S,
    pub limits: Limits,
}

impl<S: Sender> Worker<S> {
    /// One chunk message.
    #[tracing::instrument(name = "imports.chunk", skip_all, fields(import = %message.import, chunk = message.chunk))]
    pub async fn handle(&self, message: &ChunkMessage) -> AppResult<Outcome> {
        let org = OrgId::new(message.org);
        let Some(stored) = self.store.get_import(org, message.import).await? else {
            tracing::warn!("a chunk message for an import that does not exist: dropped");
            return Ok(Outcome::Stale);
        };
        let job = Job::from_text(&stored.job)?;
        if !matches!(job.state, State::Validating | State::Running) || message.chunk > job.next_chunk {
            return Ok(Outcome::Stale);
        }
        if message.chunk < job.next_chunk {
            // This chunk committed; if its worker died before sending the next message, the
            // redelivery sends it (a second copy would be stale: the commit is conditional).
            if message.chunk + 1 == job.next_chunk && stored.sent_chunk != Some(job.next_chunk) {
                self.send_next(&job).await?;
            }
            return Ok(Outcome::Stale);
        }
        if job.next_offset >= job.size && (job.header.is_some() || job.format == Format::Ndjson) {
            return self.finish(job, stored.revision).await;
        }
        self.chunk(job, stored.revision).await
    }

    /// Marks the import of a chunk that kept failing as failed ([`ABANDONED`]), unless it ended
    /// or moved on meanwhile (a save lost to another writer is read again).
    pub async fn abandon(&self, message: &ChunkMessage) -> AppResult<()> {
        let org = OrgId::new(message.org);
        for _ in 0..3 {
            let Some(stored) = self.store.get_import(org, message.import).await? else { return Ok(()) };
            let job = Job::from_text(&stored.job)?;
            if !matches!(job.state, State::Validating | State::Running) || job.next_chunk != message.chunk {
                return Ok(());
            }
            if self.fail(job, stored.revision, ABANDONED.to_string()).await? != Outcome::Stale {
                return Ok(());
            }
        }
        Err(AppError::unavailable("the import kept changing while it was being marked failed"))
    }

    async fn send_next(&self, job: &Job) -> AppResult<()> {
        let message = ChunkMessage {
            org: job.organization_id,
            import: job.id,
            chunk: job.next_chunk,
            offset: job.next_offset,
            row: job.next_row,
        };
        self.sender.send(&message).await?;
        self.store.mark_import_sent(job.org(), job.id, job.next_chunk).await
    }

    /// Ends the import as failed, with the reason, unless someone else moved it on. The
    /// committed chunks' parts are assembled into the report first: the rows written before
    /// the failure are reported, as for a done import.
    async fn fail(&self, mut job: Job, revision: u64, reason: String) -> AppResult<Outcome> {
        tracing::info!(import = %job.id, reason, "import failed");
        self.assemble(&job).await?;
        job.state = State::Failed;
        job.reason = Some(reason.clone());
        job.finished_at = Some(Timestamp::now());
        job.updated_at = Timestamp::now();
        let saved = self.store.save_import(job.org(), job.id, &job.to_text()?, revision).await?;
        Ok(if saved { Outcome::Failed(reason) } else { Outcome::Stale })
    }

    /// Every part, in order, into `report.csv`; then the job is done.
    async fn finish(&self, mut job: Job, revision: u64) -> AppResult<Outcome> {
        self.assemble(&job).await?;
        job.state = State::Done;
        job.finished_at = Some(Timestamp::now());
        job.updated_at = Timestamp::now();
        let saved = self.store.save_import(job.org(), job.id, &job.to_text()?, revision).await?;
        Ok(if saved { Outcome::Finished } else { Outcome::Stale })
    }

    /// The committed chunks' parts, in order, into `report.csv` (just its header when no chunk
    /// committed).
    async fn assemble(&self, job: &Job) -> AppResult<()> {
        let parts = job.part_keys();
        if parts.is_empty() {
            return self.bulk.put(&job.report_key(), REPORT_HEADER.as_bytes().to_vec()).await;
        }
        self.bulk.concatenate(&job.report_key(), &parts).await
    }

    /// Bytes from `offset` and whether they reach the end of the file, from a window of `len`.
    async fn window(&self, job: &Job, offset: u64, len: u64) -> AppResult<(Vec<u8>, bool)> {
        if offset >= job.size {
            return Ok((Vec::new(), true));
        }
        let bytes = self.bulk.range(&job.source_key(), offset, len).await?;
        let at_eof = offset + bytes.len() as u64 >= job.size;
        Ok((bytes, at_eof))
    }

    async fn chunk(&self, mut job: Job, revision: u64) -> AppResult<Outcome> {
        let started = Instant::now();
        let chunk = job.next_chunk;
        let spec = match job.entity {
            Target::Contacts => Contact::body_spec(),
            Target::Appointments => Appointment::body_spec(),
            Target::Transactions => Transaction::body_spec(),
        };
        // CSV: the header first (stored at the first chunk), mapped to fields.
        let mut fields: Vec<FieldSpec> = Vec::new();
        if job.format == Format::Csv {
            if job.header.is_none() {
                let mut len = self.limits.window;
                let (header, end) = loop {
                    let (bytes, at_eof) = self.window(&job, 0, len).await?;
                    match csv_header(&bytes, at_eof) {
                        Some(Ok(found)) => break found,
                        Some(Err(reason)) => return self.fail(job, revision, reason).await,
                        None if len < self.limits.max_window => len *= 2,
                        None => {
                            let reason = format!("the header row is longer than {} bytes", self.limits.max_window);
                            return self.fail(job, revision, reason).await;
                        }
                    }
                };
                job.header = Some(header);
                job.next_offset = end as u64;
                // Rows are numbered as a spreadsheet shows them: the header is row 1.
                job.next_row = 2;
            }
            let header = job.header.clone().unwrap_or_default();
            fields = match map_header(&header, &job.columns, &spec) {
                Ok(fields) => fields,
                Err(reason) => return self.fail(job, revision, reason).await,
            };
        } else if job.next_row == 0 {
            job.next_row = 1;
        }
        if job.state == State::Validating && !job.dry_run {
            job.state = State::Running;
        }

        // The rows of this chunk: complete rows of a window, grown until one fits.
        let offset = job.next_offset;
        let mut len = self.limits.window;
        let (bytes, cut) = loop {
            let (bytes, at_eof) = self.window(&job, offset, len).await?;
            let cut = match job.format {
                Format::Csv => cut_csv(&bytes, at_eof, job.next_row, self.limits.rows_per_chunk, &fields),
                Format::Ndjson => cut_ndjson(&bytes, at_eof, job.next_row, self.limits.rows_per_chunk, &job.columns),
            };
            if !cut.need_more {
                break (bytes, cut);
            }
            if len >= self.limits.max_window {
                let reason = format!("row {} is longer than {} bytes", job.next_row, self.limits.max_window);
                return self.fail(job, revision, reason).await;
            }
            len *= 2;
        };
        if job.counts.read + cut.rows.len() as u64 > MAX_ROWS {
            let reason =
                format!("the file has more than {MAX_ROWS} rows; the rows before were processed (see the report)");
            return self.fail(job, revision, reason).await;
        }
        let deadline = started + self.limits.budget;
        let wanted = cut.rows.len();
        let rows = cut.rows;
        let columns = (job.format == Format::Csv).then_some(fields.as_slice());
        let outcomes = match job.entity {
            Target::Contacts => self.apply::<Contact>(&job, rows, columns, deadline).await?,
            Target::Appointments => self.apply::<Appointment>(&job, rows, columns, deadline).await?,
            Target::Transactions => self.apply::<Transaction>(&job, rows, columns, deadline).await?,
        };
        // Where the next chunk starts: after the last row processed (all of the cut, unless the
        // time budget stopped the writes early).
        let consumed =
            if outcomes.len() == wanted { cut.end } else { outcomes.last().map(|(r, _)| r.end).unwrap_or(0) };
        let next_row = match job.format {
            Format::Csv => outcomes.last().map(|(r, _)| r.row + 1).unwrap_or(job.next_row),
            Format::Ndjson => job.next_row + ndjson_lines(&bytes[..consumed]),
        };

        let mut counts = Counts::default();
        let mut part = if chunk == 0 { REPORT_HEADER.as_bytes().to_vec() } else { Vec::new() };
        {
            let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(&mut part);
            for (row, status) in &outcomes {
                counts.read += 1;
                let (label, id, problem) = match status {
                    Status::Created(id) => {
                        counts.created += 1;
                        ("created", id.to_string(), String::new())
                    }
                    Status::Updated(id) => {
                        counts.updated += 1;
                        ("updated", id.to_string(), String::new())
                    }
                    Status::WouldCreate => {
                        counts.created += 1;
                        ("would_create", String::new(), String::new())
                    }
                    Status::WouldUpdate(id) => {
                        counts.updated += 1;
                        ("would_update", id.to_string(), String::new())
                    }
                    Status::Skipped(why) => {
                        counts.skipped += 1;
                        ("skipped", String::new(), why.clone())
                    }
                    Status::Failed(why) => {
                        counts.failed += 1;
                        ("failed", String::new(), why.clone())
                    }
                };
                writer
                    .write_record([row.row.to_string().as_str(), label, &id, &problem])
                    .map_err(AppError::internal)?;
            }
            writer.flush().map_err(AppError::internal)?;
        }
        let end = offset + consumed as u64;
        self.bulk.put(&job.part_key(chunk, end), part).await?;
        job.part_ends.push(end);

        job.counts.add(&counts);
        job.next_chunk += 1;
        job.next_offset = end;
        job.next_row = next_row;
        job.updated_at = Timestamp::now();
        if job.started_at.is_none() {
            job.started_at = Some(job.updated_at);
        }
        if !self.store.save_import(job.org(), job.id, &job.to_text()?, revision).await? {
            return Ok(Outcome::Stale);
        }
        self.send_next(&job).await?;
        tracing::info!(rows = outcomes.len(), ms = started.elapsed().as_millis() as u64, "chunk committed");
        Ok(Outcome::Chunk { chunk, rows: outcomes.len() })
    }

    /// Validates the rows in file order (duplicates within the chunk resolved before any
    /// write, so no two rows of a chunk claim the same value and the outcome does not depend on
    /// the order writes land in), then writes them in groups of consecutive rows,
    /// `concurrency` groups in flight, until the deadline. Each group's rows that create a
    /// record are committed together ([`Limits::rows_per_transaction`]).
    async fn apply<E: Entity>(
        &self,
        job: &Job,
        rows: Vec<Row>,
        columns: Option<&[FieldSpec]>,
        deadline: Instant,
    ) -> AppResult<Vec<(Row, Status)>> {
        use futures_util::StreamExt;
        let tenant = job.tenant()?;
        let mut seen: HashMap<(&'static str, String), u64> = HashMap::new();
        let mut steps: Vec<(Row, Result<Planned<E>, Status>)> = Vec::with_capacity(rows.len());
        for row in rows {
            let step = plan::<E>(job, &row, &mut seen);
            steps.push((row, step));
        }
        let groups = groups(&steps, if job.dry_run { 1 } else { self.limits.rows_per_transaction });
        // Appointments are checked against their provider's schedule when written, so which of
        // two overlapping rows is refused depends on which commits first: they are written one
        // group at a time, in file order (the later row is the one reported).
        let concurrency = if job.entity == Target::Appointments { 1 } else { self.limits.concurrency.max(1) };
        let tenant = &tenant;
        // In order, `concurrency` at a time; a group not started by the deadline is left to the
        // next chunk, and so is every group after it (they start later still).
        let mut results = futures_util::stream::iter(groups.into_iter().enumerate())
            .map(|(index, group)| {
                let steps = &steps[group];
                async move {
                    if index > 0 && Instant::now() >= deadline {
                        return None;
                    }
                    Some(Box::pin(self.group::<E>(job, tenant, steps, columns)).await)
                }
            })
            .buffered(concurrency);
        let mut statuses = Vec::with_capacity(steps.len());
        while let Some(Some(result)) = results.next().await {
            statuses.extend(result?);
        }
        drop(results);
        Ok(steps.into_iter().zip(statuses).map(|((row, _), status)| (row, status)).collect())
    }

    /// One group of consecutive rows: each row's own checks (an upsert's lookup and update, a
    /// dry run's checks), then the rows left to create, together.
    async fn group<E: Entity>(
        &self,
        job: &Job,
        tenant: &Tenant,
        steps: &[(Row, Result<Planned<E>, Status>)],
        columns: Option<&[FieldSpec]>,
    ) -> AppResult<Vec<Status>> {
        // The rows' own checks at once: no two rows of a chunk claim the same value (`plan`).
        let resolved = futures_util::future::join_all(steps.iter().map(|(row, step)| async move {
            match step {
                Err(status) => Ok(Some(status.clone())),
                Ok(planned) => retrying(|| Box::pin(self.resolve::<E>(job, tenant, row, planned, columns))).await,
            }
        }))
        .await;
        let mut statuses: Vec<Option<Status>> = Vec::with_capacity(steps.len());
        let mut creates: Vec<usize> = Vec::new();
        for (index, result) in resolved.into_iter().enumerate() {
            let status = result?;
            if status.is_none() {
                creates.push(index);
            }
            statuses.push(status);
        }
        let rows: Vec<(&Row, &Planned<E>)> =
            creates.iter().filter_map(|&i| steps[i].1.as_ref().ok().map(|planned| (&steps[i].0, planned))).collect();
        for (index, status) in creates.into_iter().zip(self.create_together::<E>(job, tenant, &rows).await?) {
            statuses[index] = Some(status);
        }
        statuses.into_iter().map(|s| s.ok_or_else(|| AppError::internal("a row of a group was not written"))).collect()
    }

    /// What a row is before any create: `None` when it creates a record; otherwise its status
    /// (an upsert's update done, a duplicate, a dry run's verdict).
    async fn resolve<E: Entity>(
        &self,
        job: &Job,
        tenant: &Tenant,
        row: &Row,
        planned: &Planned<E>,
        columns: Option<&[FieldSpec]>,
    ) -> AppResult<Option<Status>> {
        let org = tenant.org;
        let own_id = row_id(job.organization_id, job.id, row.row);
        if let Some(key) = &planned.key {
            match self.store.unique_owner::<E>(org, key).await? {
                None => {}
                Some(owner) if owner == own_id => {
                    return Ok(Some(if job.dry_run { Status::WouldCreate } else { Status::Created(own_id) }));
                }
                Some(owner) => {
                    if let Some(first) = row_of(job.organization_id, job.id, owner) {
                        return Ok(Some(duplicate_of(first, key.field)));
                    }
                    if let Some(current) = self.store.get::<E>(org, owner).await?.filter(|r| !r.meta.is_deleted) {
                        // An earlier row of another chunk may have matched this record already
                        // (`plan` sees one chunk): the first row of the file to match it claims
                        // it, as a dry run's claim does, and a later one is its duplicate. A
                        // retried row finds its own claim.
                        if !job.dry_run
                            && let Some(first) = self.store.claim_scratch::<E>(job.org(), job.id, key, row.row).await?
                        {
                            return Ok(Some(duplicate_of(first, key.field)));
                        }
                        return self.update(job, tenant, row, planned, &current, columns).await.map(Some);
                    }
                }
            }
        }
        if job.dry_run {
            return self.check_create(job, tenant, row, &planned.data).await.map(Some);
        }
        Ok(None)
    }

    /// Creates rows in one transaction, in file order. A row whose write is refused (a unique
    /// value held by an existing record, a reference to nothing, its record already there
    /// because this chunk is a retry, a schedule another row of the group changes too) splits
    /// the group there: the rows before it are committed together first, then it is written
    /// alone (which gives it exactly the status a single create gives it), then the rows after
    /// it, together. A group that cannot be one transaction at all (too large, contention,
    /// storage trouble) is written row by row, in order.
    async fn create_together<E: Entity>(
        &self,
        job: &Job,
        tenant: &Tenant,
        rows: &[(&Row, &Planned<E>)],
    ) -> AppResult<Vec<Status>> {
        if rows.len() <= 1 {
            return self.create_each::<E>(job, tenant, rows).await;
        }
        let mut prepared = Vec::with_capacity(rows.len());
        for (index, (row, planned)) in rows.iter().enumerate() {
            let id = row_id(job.organization_id, job.id, row.row);
            match self.store.prepare_create_as(tenant, id, planned.data.clone(), Timestamp::now()).await {
                Ok(ready) => prepared.push(ready),
                Err(_) => return Box::pin(self.split_at::<E>(job, tenant, rows, index)).await,
            }
        }
        match self.store.commit_atomic(tenant, &prepared, None).await {
            Ok(()) => Ok(prepared.iter().map(|ready| Status::Created(ready.next().meta.id)).collect()),
            Err(BatchFailure::Operation { op, .. }) if op < rows.len() => {
                Box::pin(self.split_at::<E>(job, tenant, rows, op)).await
            }
            Err(failure) => {
                tracing::debug!(?failure, rows = rows.len(), "a group written row by row");
                self.create_each::<E>(job, tenant, rows).await
            }
        }
    }

    /// Each row alone, in file order.
    async fn create_each<E: Entity>(
        &self,
        job: &Job,
        tenant: &Tenant,
        rows: &[(&Row, &Planned<E>)],
    ) -> AppResult<Vec<Status>> {
        let mut statuses = Vec::with_capacity(rows.len());
        for (row, planned) in rows {
            statuses.push(self.create_alone::<E>(job, tenant, row, planned).await?);
        }
        Ok(statuses)
    }

    /// The rows before `at` together, row `at` alone, the rows after it together: file order.
    async fn split_at<E: Entity>(
        &self,
        job: &Job,
        tenant: &Tenant,
        rows: &[(&Row, &Planned<E>)],
        at: usize,
    ) -> AppResult<Vec<Status>> {
        let mut statuses = Box::pin(self.create_together::<E>(job, tenant, &rows[..at])).await?;
        let (row, planned) = rows[at];
        statuses.push(self.create_alone::<E>(job, tenant, row, planned).await?);
        statuses.extend(Box::pin(self.create_together::<E>(job, tenant, &rows[at + 1..])).await?);
        Ok(statuses)
    }

    /// [`Self::create_one`], retried while it meets contention or storage trouble.
    async fn create_alone<E: Entity>(
        &self,
        job: &Job,
        tenant: &Tenant,
        row: &Row,
        planned: &Planned<E>,
    ) -> AppResult<Status> {
        retrying(|| self.create_one::<E>(job, tenant, row, planned)).await
    }

    /// One row's create, alone: the same write as `POST`.
    async fn create_one<E: Entity>(
        &self,
        job: &Job,
        tenant: &Tenant,
        row: &Row,
        planned: &Planned<E>,
    ) -> AppResult<Status> {
        let org = tenant.org;
        let own_id = row_id(job.organization_id, job.id, row.row);
        match self.store.create_as(tenant, own_id, planned.data.clone(), None, Vec::new()).await {
            Ok(_) => Ok(Status::Created(own_id)),
            // This row's id is taken only by this row's earlier attempt.
            Err(AppError::Conflict { code: "VERSION_CONFLICT", .. })
                if self.store.get::<E>(org, own_id).await?.is_some() =>
            {
                Ok(Status::Created(own_id))
            }
            Err(err) => self.refusal::<E>(job, org, &planned.data, err).await,
        }
    }

    /// An upsert's update: the record's fields with the file's columns replaced (a blank cell
    /// resets its field, as a `PUT` without it would), validated whole, written once.
    async fn update<E: Entity>(
        &self,
        job: &Job,
        tenant: &Tenant,
        row: &Row,
        planned: &Planned<E>,
        current: &Record<E>,
        columns: Option<&[FieldSpec]>,
    ) -> AppResult<Status> {
        let mut merged = match serde_json::to_value(&current.data) {
            Ok(Value::Object(map)) => map,
            _ => return Err(AppError::internal("an entity did not serialize to an object")),
        };
        match columns {
            Some(fields) => {
                for field in fields {
                    merged.remove(field.name);
                }
            }
            None => {
                for name in planned.object.keys() {
                    merged.remove(name);
                }
            }
        }
        merged.extend(planned.object.clone());
        let data = match E::from_json(&merged) {
            Ok(data) => data,
            Err(err) => return Ok(Status::Failed(problem(&err))),
        };
        let id = current.meta.id;
        if job.dry_run {
            return Ok(match self.claim_all::<E>(job, row, &data).await? {
                Some(status) => status,
                None => Status::WouldUpdate(id),
            });
        }
        match self.store.update_once(tenant, current, data.clone(), job.id, row.row).await {
            Ok(_) => Ok(Status::Updated(id)),
            Err(err) => self.refusal::<E>(job, tenant.org, &data, err).await,
        }
    }

    /// A dry run's create: every check a write would make, without the write.
    async fn check_create<E: Entity>(&self, job: &Job, tenant: &Tenant, row: &Row, data: &E) -> AppResult<Status> {
        let mut data = data.clone();
        if let Err(err) = data.reconcile(None, Timestamp::now()) {
            return Ok(Status::Failed(problem(&err)));
        }
        for unique in data.unique_values() {
            if let Some(owner) = self.store.unique_owner::<E>(tenant.org, &unique).await? {
                return Ok(Status::Skipped(format!("`{}` is already used by the {} {owner}", unique.field, E::NAME)));
            }
        }
        for reference in data.references() {
            if !self.store.record_live(tenant.org, reference.kind, reference.id).await? {
                return Ok(Status::Failed(format!(
                    "`{}`: no live record of this organization has this id",
                    reference.field
                )));
            }
        }
        Ok(self.claim_all::<E>(job, row, &data).await?.unwrap_or(Status::WouldCreate))
    }

    /// A dry run's claims of the row's unique values: the first row of the file holding a
    /// value keeps it, later ones are duplicates.
    async fn claim_all<E: Entity>(&self, job: &Job, row: &Row, data: &E) -> AppResult<Option<Status>> {
        for unique in data.unique_values() {
            if let Some(first) = self.store.claim_scratch::<E>(job.org(), job.id, &unique, row.row).await? {
                return Ok(Some(duplicate_of(first, unique.field)));
            }
        }
        Ok(None)
    }

    /// What a refused write tells the report: a unique value held by an earlier row of the
    /// file or by an existing record (skipped), or the problem (failed). Storage failures and
    /// contention (a lost optimistic lock: `AppError::is_transient`) are not a row's: they are
    /// retried ([`retrying`]), then fail the chunk, which SQS redelivers.
    async fn refusal<E: Entity>(&self, job: &Job, org: OrgId, data: &E, err: AppError) -> AppResult<Status> {
        if err.status() >= 500 || err.is_transient() {
            return Err(err);
        }
        if let AppError::Conflict { code: "UNIQUE_CONFLICT", errors, .. } = &err
            && let Some(unique) =
                errors.first().and_then(|e| data.unique_values().into_iter().find(|u| u.field == e.field))
        {
            let owner = self.store.unique_owner::<E>(org, &unique).await?;
            return Ok(match owner.and_then(|o| row_of(job.organization_id, job.id, o).map(|r| (o, r))) {
                Some((_, first)) => duplicate_of(first, unique.field),
                None => match owner {
                    Some(owner) => {
                        Status::Skipped(format!("`{}` is already used by the {} {owner}", unique.field, E::NAME))
                    }
                    None => Status::Skipped(format!("`{}` is already used by another {}", unique.field, E::NAME)),
                },
            });
        }
        Ok(Status::Failed(problem(&err)))
    }
}

/// A row ready to write: its entity, its object (for an upsert's merge) and its upsert key.
struct Planned<E> {
    data: E,
    object: Map<String, Value>,
    key: Option<Unique>,
}

/// Validation and in-chunk duplicates, in file order, before any write.
fn plan<E: Entity>(
    job: &Job,
    row: &Row,
    seen: &mut HashMap<(&'static str, String), u64>,
) -> Result<Planned<E>, Status> {
    let object = row.object.clone().map_err(Status::Failed)?;
    let data = E::from_json(&object).map_err(|e| Status::Failed(problem(&e)))?;
    let uniques = data.unique_values();
    let key = match job.mode.key_field() {
        None => None,
        Some(field) => match uniques.iter().find(|u| u.field == field) {
            Some(unique) => Some(unique.clone()),
            None => return Err(Status::Failed(format!("`{field}` is required to match rows by it"))),
        },
    };
    if let Some((unique, first)) =
        uniques.iter().find_map(|u| seen.get(&(u.field, u.value.clone())).map(|first| (u, *first)))
    {
        return Err(duplicate_of(first, unique.field));
    }
    for unique in &uniques {
        seen.insert((unique.field, unique.value.clone()), row.row);
    }
    Ok(Planned { data, object, key })
}

/// Consecutive rows cut into groups of at most `size`, a group also ending before a row that
/// names a record another row of the group names (one transaction may not touch an item twice,
/// and a reference is a condition on the record named) or the same provider (an appointment
/// bumps its provider's schedule lock, which one transaction cannot do twice).
fn groups<E: Entity>(steps: &[(Row, Result<Planned<E>, Status>)], size: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut named: Vec<(&'static str, Uuid)> = Vec::new();
    for (index, (_, step)) in steps.iter().enumerate() {
        let references: Vec<(&'static str, Uuid)> = match step {
            Ok(planned) => {
                let provider = planned
                    .object
                    .get("assigned_provider")
                    .and_then(Value::as_str)
                    .and_then(|p| Uuid::parse_str(p).ok())
                    .map(|p| ("SCHEDULE", p));
                planned.data.references().iter().map(|r| (r.kind, r.id)).chain(provider).collect()
            }
            Err(_) => Vec::new(),
        };
        if index > start && (index - start >= size.max(1) || references.iter().any(|r| named.contains(r))) {
            out.push(start..index);
            start = index;
            named.clear();
        }
        named.extend(references);
    }
    if start < steps.len() {
        out.push(start..steps.len());
    }
    out
}

/// Attempts after the first that a row's write gets when it meets contention or storage
/// trouble, before its chunk is given up (and redelivered by SQS).
const TRANSIENT_RETRIES: u32 = 4;

/// `attempt` until it succeeds, fails for good, or still meets a transient error
/// (`AppError::is_transient`: a lost optimistic lock, a conflicting transaction, storage
/// unavailable) after [`TRANSIENT_RETRIES`] retries, each after a jittered backoff (about 50,
/// 100, 200, 400 ms), so two writers that collided do not collide again.
async fn retrying<T, F, Fut>(mut attempt: F) -> AppResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AppResult<T>>,
{
    let mut retries = 0;
    loop {
        match attempt().await {
            Err(err) if err.is_transient() && retries < TRANSIENT_RETRIES => {
                retries += 1;
                let base = 25u64 << retries;
                let jitter = (Uuid::new_v4().as_u128() % u128::from(base)) as u64;
                tracing::debug!(error = %err, retries, "a row's write met contention; retried");
                tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
            }
            other => return other,
        }
    }
}

fn duplicate_of(first: u64, field: &str) -> Status {
    Status::Skipped(format!("duplicate of row {first} (`{field}`)"))
}

/// A refusal as one line of the report: each field's problem, or the detail.
pub fn problem(err: &AppError) -> String {
    let errors = err.field_errors();
    if errors.is_empty() {
        return err.to_string();
    }
    errors.iter().map(|e| format!("`{}` {}", e.field, e.message)).collect::<Vec<_>>().join("; ")
}

/// The queue's `maxReceiveCount` (template.yaml, `ImportQueue`'s RedrivePolicy): a chunk that
/// fails on this receive goes to the dead-letter queue, so its import is marked failed first.
pub const MAX_RECEIVES: u64 = 5;

/// The reason a chunk that kept failing gives its import.
pub const ABANDONED: &str = "a chunk failed repeatedly and was abandoned (see the report for the rows before it); \
                             declare a new import for the rest";

/// The worker Lambda's answer for an SQS batch: the messages that failed are reported, so
/// SQS retries only them (ReportBatchItemFailures). A message failing on its last allowed
/// receive ([`MAX_RECEIVES`]) first marks its import failed, since nothing else would: it still
/// goes to the dead-letter queue, for whoever looks into it.
pub async fn handle_batch<S: Sender>(worker: &Worker<S>, event: &Value) -> Value {
    let mut failures = Vec::new();
    for record in event.get("Records").and_then(Value::as_array).into_iter().flatten() {
        let id = record.get("messageId").and_then(Value::as_str).unwrap_or_default().to_string();
        let receives = record
            .pointer("/attributes/ApproximateReceiveCount")
            .and_then(Value::as_str)
            .and_then(|c| c.parse::<u64>().ok())
            .unwrap_or(1);
        let message =
            record.get("body").and_then(Value::as_str).and_then(|body| serde_json::from_str::<ChunkMessage>(body).ok());
        let result = match &message {
            Some(message) => Box::pin(worker.handle(message)).await,
            None => Err(AppError::internal("a chunk message that does not parse")),
        };
        if let Err(err) = result {
            match &message {
                Some(message) if receives >= MAX_RECEIVES => {
                    tracing::error!(error = %err, message = id, receives, "chunk failed for good: its import fails");
                    if let Err(err) = Box::pin(worker.abandon(message)).await {
                        tracing::error!(error = %err, "the abandoned import could not be marked failed");
                    }
                }
                _ => tracing::error!(error = %err, message = id, receives, "chunk not processed: SQS will retry it"),
            }
            failures.push(serde_json::json!({ "itemIdentifier": id }));
        }
    }
    serde_json::json!({ "batchItemFailures": failures })
}
