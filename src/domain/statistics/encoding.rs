//! A case's part in the figures as bytes, for the store to keep once it is
//! settled: compact (a year of a city's cases is read back for a year's
//! figures) and exact (hours as their f64 bits, so a kept part folds to the
//! very figures the case would).

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::tally::{RunningHours, Term};
use super::{CaseFigures, Collected, Rate, RequestPart, RequestTally, ScoringPolicy};
use crate::domain::calendar::WorkingCalendar;

/// Bumped whenever a tally's fields or their meaning change: parts kept by
/// an older build are then recomputed, not misread.
const FORMAT: u8 = 3;

/// What a kept part depends on besides its case: the calendar (working
/// hours), the review allowance, and the format. A part kept under another
/// fingerprint is stale.
pub fn fingerprint(calendar: &WorkingCalendar, policy: &ScoringPolicy) -> String {
    let mut h = Sha256::new();
    h.update([FORMAT]);
    h.update(format!("{calendar:?}").as_bytes());
    h.update(policy.review_within_hours.to_le_bytes());
    hex::encode(&h.finalize()[..16])
}

fn verdict_byte(verdict: Option<bool>) -> u8 {
    match verdict {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn uint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }
    fn int(&mut self, v: i64) {
        self.uint(((v << 1) ^ (v >> 63)) as u64);
    }
    fn float(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    fn text(&mut self, s: &str) {
        self.uint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn rate(&mut self, r: Rate) {
        self.uint(u64::from(r.hits));
        self.uint(u64::from(r.of));
    }
    fn floats(&mut self, v: &[f64]) {
        self.uint(v.len() as u64);
        for &x in v {
            self.float(x);
        }
    }
    /// To the nanosecond: a running term counts on from exactly here.
    fn terms(&mut self, terms: &[Term]) {
        self.uint(terms.len() as u64);
        for term in terms {
            match *term {
                Term::Fixed(hours) => {
                    self.0.push(0);
                    self.float(hours);
                }
                Term::Running { since, base } => {
                    self.0.push(1);
                    self.int(since.timestamp());
                    self.uint(u64::from(since.timestamp_subsec_nanos()));
                    self.int(base.num_seconds());
                    self.int(i64::from(base.subsec_nanos()));
                }
            }
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn uint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.uint()?).ok()
    }
    fn int(&mut self) -> Option<i64> {
        let v = self.uint()?;
        Some((v >> 1) as i64 ^ -((v & 1) as i64))
    }
    fn float(&mut self) -> Option<f64> {
        let (bytes, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(f64::from_bits(u64::from_le_bytes(*bytes)))
    }
    fn text(&mut self) -> Option<String> {
        let n = usize::try_from(self.uint()?).ok()?;
        let (bytes, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        String::from_utf8(bytes.to_vec()).ok()
    }
    fn flag(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    /// None for a byte `verdict_byte` does not write; inside, none yet.
    fn verdict(&mut self) -> Option<Option<bool>> {
        match self.byte()? {
            0 => Some(None),
            1 => Some(Some(false)),
            2 => Some(Some(true)),
            _ => None,
        }
    }
    fn rate(&mut self) -> Option<Rate> {
        Some(Rate {
            hits: self.u32()?,
            of: self.u32()?,
        })
    }
    fn floats(&mut self) -> Option<Vec<f64>> {
        let n = usize::try_from(self.uint()?).ok()?;
        // Never trust a length past what is there to read.
        if n > self.0.len() / 8 {
            return None;
        }
        (0..n).map(|_| self.float()).collect()
    }
    fn terms(&mut self) -> Option<Vec<Term>> {
        let n = usize::try_from(self.uint()?).ok()?;
        if n > self.0.len() {
            return None;
        }
        (0..n)
            .map(|_| match self.byte()? {
                0 => Some(Term::Fixed(self.float()?)),
                1 => {
                    let secs = self.int()?;
                    let nanos = u32::try_from(self.uint()?).ok()?;
                    let since = DateTime::<Utc>::from_timestamp(secs, nanos)?;
                    let base = Duration::try_seconds(self.int()?)?
                        .checked_add(&Duration::nanoseconds(self.int()?))?;
                    Some(Term::Running { since, base })
                }
                _ => None,
            })
            .collect()
    }
}

impl CaseFigures {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(128));
        w.0.push(FORMAT);
        w.int(self.created_at.timestamp_millis());
        w.text(&self.office);
        w.text(&self.community);
        w.text(&self.zone);
        w.0.push(self.difficulty);
        w.0.push(u8::from(self.closed));
        w.0.push(u8::from(self.overridden));
        w.0.push(u8::from(self.merged));
        w.0.push(verdict_byte(self.verdict));
        w.uint(u64::from(self.residents));
        w.rate(self.resident_verdicts);
        w.uint(self.collected.len() as u64);
        for c in &self.collected {
            w.text(&c.collector);
            w.0.push(verdict_byte(c.verdict));
        }
        w.uint(self.requests.len() as u64);
        for r in &self.requests {
            w.text(&r.department);
            w.0.push(u8::from(r.returned));
            let t = &r.tally;
            for flag in [t.open, t.overdue_now, t.return_asked, t.returned] {
                w.0.push(u8::from(flag));
            }
            for rate in [t.response, t.on_time_reply, t.resolution, t.timely_review] {
                w.rate(rate);
            }
            for samples in [&t.to_acknowledge, &t.to_reply, &t.to_review] {
                w.floats(samples);
            }
            for n in [
                t.rounds,
                t.rejected,
                t.extensions_asked,
                t.extensions_approved,
            ] {
                w.uint(u64::from(n));
            }
            for hours in [t.department_hours, t.office_hours, t.paused_hours] {
                w.float(hours);
            }
            match &t.running {
                None => w.0.push(0),
                Some(running) => {
                    w.0.push(1);
                    for terms in [&running.department, &running.office, &running.paused] {
                        w.terms(terms);
                    }
                }
            }
        }
        w.0
    }

    /// None for bytes this build did not write (another format, or damaged).
    pub fn decode(bytes: &[u8]) -> Option<CaseFigures> {
        let mut r = Reader(bytes);
        if r.byte()? != FORMAT {
            return None;
        }
        let created_at = DateTime::from_timestamp_millis(r.int()?)?;
        let (office, community, zone) = (r.text()?, r.text()?, r.text()?);
        let difficulty = r.byte()?;
        let (closed, overridden, merged) = (r.flag()?, r.flag()?, r.flag()?);
        let verdict = r.verdict()?;
        let (residents, resident_verdicts) = (r.u32()?, r.rate()?);
        let n = usize::try_from(r.uint()?).ok()?;
        if n > r.0.len() {
            return None;
        }
        let mut collected = Vec::with_capacity(n);
        for _ in 0..n {
            collected.push(Collected {
                collector: r.text()?,
                verdict: r.verdict()?,
            });
        }
        let n = usize::try_from(r.uint()?).ok()?;
        if n > r.0.len() {
            return None;
        }
        let mut requests = Vec::with_capacity(n);
        for _ in 0..n {
            let department = r.text()?;
            let returned = r.flag()?;
            let (open, overdue_now, return_asked, tally_returned) =
                (r.flag()?, r.flag()?, r.flag()?, r.flag()?);
            let (response, on_time_reply, resolution, timely_review) =
                (r.rate()?, r.rate()?, r.rate()?, r.rate()?);
            let (to_acknowledge, to_reply, to_review) = (r.floats()?, r.floats()?, r.floats()?);
            let (rounds, rejected, extensions_asked, extensions_approved) =
                (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
            let (department_hours, office_hours, paused_hours) =
                (r.float()?, r.float()?, r.float()?);
            let running = match r.flag()? {
                false => None,
                true => Some(Box::new(RunningHours {
                    department: r.terms()?,
                    office: r.terms()?,
                    paused: r.terms()?,
                })),
            };
            requests.push(RequestPart {
                department,
                returned,
                tally: RequestTally {
                    open,
                    overdue_now,
                    response,
                    on_time_reply,
                    resolution,
                    to_acknowledge,
                    to_reply,
                    to_review,
                    timely_review,
                    rounds,
                    rejected,
                    return_asked,
                    returned: tally_returned,
                    extensions_asked,
                    extensions_approved,
                    department_hours,
                    office_hours,
                    paused_hours,
                    running,
                },
            });
        }
        r.0.is_empty().then_some(CaseFigures {
            created_at,
            office,
            community,
            zone,
            difficulty,
            closed,
            overridden,
            merged,
            verdict,
            residents,
            resident_verdicts,
            collected,
            requests,
        })
    }
}
