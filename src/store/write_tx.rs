//! The transaction a command runs in (`WriteTx`): the whole case loaded
//! under its lock, the change written back with the letters and alerts it
//! causes, and the few other rows that must commit with it (form keys,
//! attachments, inbound mail, the jobs' cursors, personal-data reads).
//! Each method hands its work to the repository that owns the rows, on
//! whichever backend the transaction is.

use chrono::{DateTime, Utc};

use crate::domain::{Alert, Case, RaisedAlert};

use super::backend;
use super::{
    FormKey, InboundRecord, Inserted, Job, OutgoingMail, StoreError, StoredAttachment, matchable,
};

/// One write transaction. Dropped without `commit`, it rolls back.
#[derive(Debug)]
pub enum WriteTx {
    Sqlite(backend::Tx<sqlx::Sqlite>),
    Postgres(backend::Tx<sqlx::Postgres>),
}

impl WriteTx {
    /// Issues a one-time key for a form of the reply page opened with a link,
    /// and purges keys too old to be posted.
    pub async fn issue_form_key(
        &mut self,
        key_digest: &str,
        link_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.issue_form_key(key_digest, link_digest, now).await)
    }

    /// Uses a form key issued for this link: once, whatever the race.
    pub async fn use_form_key(
        &mut self,
        key_digest: &str,
        link_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<FormKey, StoreError> {
        dispatch!(self, tx => tx.use_form_key(key_digest, link_digest, now).await)
    }

    /// The bytes of a reply's files, committed with the reply.
    pub async fn insert_attachments(
        &mut self,
        attachments: &[StoredAttachment],
    ) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.insert_attachments(attachments).await)
    }

    /// Records an e-mail taken for a reply address; false when the same
    /// message (request and Message-ID) is recorded already.
    pub async fn record_inbound(&mut self, record: &InboundRecord) -> Result<bool, StoreError> {
        dispatch!(self, tx => tx.record_inbound(record).await)
    }

    /// The case that holds a request, read inside this transaction.
    pub async fn case_id_for_request(
        &mut self,
        request_id: &str,
    ) -> Result<Option<String>, StoreError> {
        if !matchable([Some(request_id)]) {
            return Ok(None);
        }
        dispatch!(self, tx => tx.case_id_for_request(request_id).await)
    }

    /// Loads the whole case and holds its lock until the transaction ends.
    pub async fn lock_case(&mut self, case_id: &str) -> Result<Option<Case>, StoreError> {
        if !matchable([Some(case_id)]) {
            return Ok(None);
        }
        dispatch!(self, tx => tx.lock_case(case_id).await)
    }

    /// Inserts a newly opened case with everything it holds and its letters,
    /// drawing each request's reference number into `case`. If the office
    /// already has a case under the same petition id, nothing is written and
    /// that case is returned.
    pub async fn insert_case(
        &mut self,
        case: &mut Case,
        mail: &[OutgoingMail],
    ) -> Result<Inserted, StoreError> {
        dispatch!(self, tx => tx.insert_case(case, mail).await)
    }

    /// The case an office's petition id opened or joined, as it is now, with
    /// the digest the petition was escalated with.
    pub async fn case_of_petition(
        &mut self,
        office: &str,
        petition_id: &str,
    ) -> Result<Option<(Case, String)>, StoreError> {
        if !matchable([Some(office), Some(petition_id)]) {
            return Ok(None);
        }
        dispatch!(self, tx => tx.case_of_petition(office, petition_id).await)
    }

    /// The case an office's petition id opened or joined, as it is now, with
    /// the digest the petition was escalated with, if any; and the ids of
    /// the OPEN cases of the office, category and community, from the index
    /// alone. The problem is held until the transaction ends.
    pub async fn petition_and_open_ids(
        &mut self,
        office: &str,
        petition_id: &str,
        category: &str,
        community: &str,
    ) -> Result<(Option<(Case, String)>, Vec<String>), StoreError> {
        if !matchable([office, petition_id, category, community].map(Some)) {
            return Ok((None, Vec::new()));
        }
        dispatch!(self, tx => tx.petition_and_open_ids(office, petition_id, category, community).await)
    }

    /// The cases `ids` as a new petition is compared with them.
    pub async fn candidates(
        &mut self,
        ids: &[String],
    ) -> Result<Vec<crate::domain::Candidate>, StoreError> {
        dispatch!(self, tx => tx.candidates(ids).await)
    }

    /// As `lock_case`, but `None` at once while another transaction holds the
    /// case (PostgreSQL): the deadline watch never waits for a command.
    pub async fn lock_case_for_watch(&mut self, case_id: &str) -> Result<Option<Case>, StoreError> {
        if !matchable([Some(case_id)]) {
            return Ok(None);
        }
        dispatch!(self, tx => tx.lock_case_for_watch(case_id).await)
    }

    /// Writes what turned `before` into `after`, the letters it causes and the
    /// alerts it raises (each once: one already raised is left as it is),
    /// drawing the references of new requests into `after`.
    pub async fn update_case(
        &mut self,
        before: &Case,
        after: &mut Case,
        mail: &[OutgoingMail],
        alerts: &[Alert],
    ) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.update_case(before, after, mail, alerts).await)
    }

    /// The job's row, held until this transaction ends; `None` while another
    /// instance holds it.
    pub async fn claim_job(&mut self, name: &str) -> Result<Option<Job>, StoreError> {
        dispatch!(self, tx => tx.claim_job(name).await)
    }

    /// Moves the job on; it commits with what the job wrote.
    pub async fn finish_job(&mut self, name: &str, job: &Job) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.finish_job(name, job).await)
    }

    /// Alerts that belong to no change of a case: those `seed_data` played
    /// on the way to the case it inserts whole.
    pub async fn raise_alerts(&mut self, alerts: &[Alert]) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.raise_alerts(alerts).await)
    }

    /// Letters that belong to no change of a case (a job's).
    pub async fn queue_mail(&mut self, mail: &[OutgoingMail]) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.queue_mail(mail).await)
    }

    /// The newest alert's id, 0 when there is none.
    pub async fn last_alert_id(&mut self) -> Result<i64, StoreError> {
        dispatch!(self, tx => tx.last_alert_id().await)
    }

    /// Whether an alert is committed that the feed cannot read yet.
    pub async fn alerts_not_yet_readable(&mut self) -> Result<bool, StoreError> {
        dispatch!(self, tx => tx.alerts_not_yet_readable().await)
    }

    /// Alerts after `after`, read inside this transaction.
    pub async fn alerts_after(
        &mut self,
        after: i64,
        min_level: u8,
        limit: u32,
    ) -> Result<Vec<RaisedAlert>, StoreError> {
        dispatch!(self, tx => tx.alerts_after(after, min_level, limit).await)
    }

    /// Records reads of residents' unmasked details in this transaction: a
    /// letter that shows one is recorded with the change that writes it.
    pub async fn record_personal_reads(
        &mut self,
        actor: &str,
        via: &str,
        case_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.record_personal_reads(actor, via, case_ids, at).await)
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.commit().await)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.rollback().await)
    }
}
