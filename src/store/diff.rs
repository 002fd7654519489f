//! What a command writes: the difference between the case it loaded and the
//! case the domain left, and the reference numbers its new requests still need.

use std::collections::BTreeMap;

use crate::domain::{Case, Reference};

use super::StoreError;
use super::rows::{CaseRow, EventRow, ReplyRow, RequestRow, ResidentRow};

/// The reference numbers a case still needs for one (issuer, year). The backend
/// draws `prefix_and_index.len()` numbers in one statement and calls `assign`.
pub struct Draw {
    pub issuer: String,
    pub year: i32,
    /// Each pending request's prefix and its index in `case.requests`.
    pub prefix_and_index: Vec<(String, usize)>,
}

/// Sorted by (issuer, year), so that two transactions never lock counters in
/// opposite orders.
pub fn pending_references(case: &Case) -> Vec<Draw> {
    let mut groups: BTreeMap<(String, i32), Vec<(String, usize)>> = BTreeMap::new();
    for (i, r) in case.requests.iter().enumerate() {
        if let Reference::Pending {
            issuer,
            prefix,
            year,
        } = &r.reference
        {
            groups
                .entry((issuer.clone(), *year))
                .or_default()
                .push((prefix.clone(), i));
        }
    }
    groups
        .into_iter()
        .map(|((issuer, year), prefix_and_index)| Draw {
            issuer,
            year,
            prefix_and_index,
        })
        .collect()
}

/// Gives the drawn numbers `last - n + 1 ..= last` to the group's requests in order.
pub fn assign(case: &mut Case, draw: &Draw, last: i64) {
    let first = last - draw.prefix_and_index.len() as i64 + 1;
    for (n, (prefix, i)) in draw.prefix_and_index.iter().enumerate() {
        case.requests[*i].reference =
            Reference::Assigned(Reference::format(prefix, draw.year, first + n as i64));
    }
}

/// The writes that turn `before` into `after`. The domain only appends requests,
/// replies and events and edits in place; anything else is refused rather than
/// half-persisted.
#[derive(Debug, Default)]
pub struct Diff {
    pub case_changed: bool,
    /// Indices into the case's requests: their rows are made once their
    /// reference numbers are drawn, the last thing before commit.
    pub new_requests: Vec<usize>,
    pub changed_requests: Vec<RequestRow>,
    pub new_replies: Vec<ReplyRow>,
    pub changed_replies: Vec<ReplyRow>,
    pub new_events: Vec<EventRow>,
    /// Residents who joined (their rows are new), whose verdict changed, and
    /// who left (by case and seq): a resident moves between cases by leaving
    /// one and joining the other.
    pub new_residents: Vec<ResidentRow>,
    pub changed_residents: Vec<ResidentRow>,
    pub gone_residents: Vec<(String, i32)>,
}

/// A bug in a command, not a refusal: reported as a database error so that it
/// surfaces as an internal failure and nothing is written.
fn not_append_only(what: &str) -> StoreError {
    StoreError::Database(sqlx::Error::InvalidArgument(format!(
        "a change removed or reordered {what}, which the store keeps append-only"
    )))
}

/// Everything of a new case, for `insert_case` (its row is written separately).
pub fn creation(case: &Case) -> Diff {
    Diff {
        case_changed: false,
        new_requests: (0..case.requests.len()).collect(),
        changed_requests: Vec::new(),
        new_replies: case
            .requests
            .iter()
            .flat_map(|r| r.replies.iter().map(|p| ReplyRow::of(&r.id, p)))
            .collect(),
        changed_replies: Vec::new(),
        new_events: case
            .events
            .iter()
            .map(|e| EventRow::of(&case.id, e))
            .collect(),
        // `insert_case` writes them first: they are what finds a race.
        new_residents: Vec::new(),
        changed_residents: Vec::new(),
        gone_residents: Vec::new(),
    }
}

pub fn diff(before: &Case, after: &Case) -> Result<Diff, StoreError> {
    if after.id != before.id || after.requests.len() < before.requests.len() {
        return Err(not_append_only("requests"));
    }
    if after.events.len() < before.events.len()
        || after.events[..before.events.len()] != before.events[..]
    {
        return Err(not_append_only("timeline events"));
    }
    let mut d = Diff {
        case_changed: CaseRow::of(before) != CaseRow::of(after),
        new_requests: Vec::new(),
        changed_requests: Vec::new(),
        new_replies: Vec::new(),
        changed_replies: Vec::new(),
        new_events: after.events[before.events.len()..]
            .iter()
            .map(|e| EventRow::of(&after.id, e))
            .collect(),
        new_residents: Vec::new(),
        changed_residents: Vec::new(),
        gone_residents: Vec::new(),
    };
    for b in &before.residents {
        match after.residents.iter().find(|a| a.seq == b.seq) {
            None => d.gone_residents.push((before.id.clone(), b.seq as i32)),
            Some(a) if a.petition_id != b.petition_id => {
                return Err(not_append_only("residents"));
            }
            Some(a) if a != b => d.changed_residents.push(ResidentRow::of(after, a)),
            Some(_) => {}
        }
    }
    d.new_residents = after
        .residents
        .iter()
        .filter(|a| !before.residents.iter().any(|b| b.seq == a.seq))
        .map(|a| ResidentRow::of(after, a))
        .collect();
    for (i, a) in after.requests.iter().enumerate() {
        let Some(b) = before.requests.get(i) else {
            d.new_requests.push(i);
            d.new_replies
                .extend(a.replies.iter().map(|p| ReplyRow::of(&a.id, p)));
            continue;
        };
        if b.id != a.id || a.replies.len() < b.replies.len() {
            return Err(not_append_only("requests or replies"));
        }
        let row = RequestRow::of(a, i);
        if row != RequestRow::of(b, i) {
            d.changed_requests.push(row);
        }
        for (j, p) in a.replies.iter().enumerate() {
            match b.replies.get(j) {
                None => d.new_replies.push(ReplyRow::of(&a.id, p)),
                Some(q) if q.round != p.round => return Err(not_append_only("replies")),
                Some(q) if q != p => d.changed_replies.push(ReplyRow::of(&a.id, p)),
                Some(_) => {}
            }
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::ctx;
    use crate::domain::{ReplyText, fixtures};

    #[test]
    fn a_new_case_is_written_whole() {
        let case = fixtures::stored_case();
        let d = creation(&case);
        assert_eq!(d.new_requests, [0, 1]);
        assert_eq!(d.new_events.len(), case.events.len());
        assert!(!d.case_changed && d.changed_requests.is_empty());
    }

    #[test]
    fn a_command_writes_only_what_it_changed() {
        let before = fixtures::stored_case();
        let mut after = before.clone();
        let housing = fixtures::dept("housing");
        let later = fixtures::now() + chrono::Duration::hours(1);
        after.acknowledge(&ctx(&housing, later), "id2").unwrap();
        let reply = ReplyText::parse("text", "已办结").unwrap();
        after
            .submit_reply(&ctx(&housing, later), "id2", reply)
            .unwrap();
        let d = diff(&before, &after).unwrap();
        assert!(d.case_changed, "updated_at moved");
        assert!(d.new_requests.is_empty());
        assert_eq!(
            d.changed_requests
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            ["id2"]
        );
        assert_eq!(d.new_replies.len(), 1);
        assert_eq!(d.new_events.len(), 2);
        assert_eq!(d.new_events[0].seq as usize, before.events.len() + 1);
    }

    #[test]
    fn a_change_that_rewrites_history_is_refused() {
        let before = fixtures::stored_case();
        let mut after = before.clone();
        after.events.remove(0);
        assert!(diff(&before, &after).is_err());
        let mut after = before.clone();
        after.requests.pop();
        assert!(diff(&before, &after).is_err());
    }

    #[test]
    fn pending_numbers_are_drawn_per_issuer_and_year_in_order() {
        let mut case = fixtures::open_case();
        let draws = pending_references(&case);
        assert_eq!(draws.len(), 1);
        assert_eq!(
            (draws[0].issuer.as_str(), draws[0].prefix_and_index.len()),
            ("cuiping", 2)
        );
        assign(&mut case, &draws[0], 7);
        let refs: Vec<_> = case.requests.iter().map(|r| r.reference.as_str()).collect();
        assert_eq!(refs, ["翠街哨〔2026〕0006号", "翠街哨〔2026〕0007号"]);
        assert!(pending_references(&case).is_empty());
    }
}
