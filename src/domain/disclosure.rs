//! Which letters show a resident unmasked to someone who is not the office
//! holding the case. A request letter shows its department the resident as
//! the access policy lets that department see them; for a department allowed
//! to see phones (`show_resident_phone`) the letter carries the phone in
//! full, and is recorded as a read of personal data (`personal_data_reads`),
//! as a gRPC read or a view of the reply page is.

use super::ActorRole;
use super::access::records_personal_reads;
use super::case::Case;
use super::organisation::Organisation;

/// How the record names a letter as the way a resident was shown.
pub const BY_LETTER: &str = "Letter";

/// How the record names the reply page.
pub const BY_REPLY_PAGE: &str = "ReplyPage";

/// The readers of the request letters about `request_ids` of `case` that
/// show the resident in full: each department as `housing (letter)`, once.
pub fn letter_readers<'a>(
    org: &Organisation,
    case: &Case,
    request_ids: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut readers: Vec<String> = request_ids
        .into_iter()
        .filter_map(|id| case.requests.iter().find(|r| r.id == id))
        .filter(|r| records_personal_reads(&ActorRole::Department(r.department.clone()), org))
        .map(|r| format!("{} (letter)", r.department))
        .collect();
    readers.sort();
    readers.dedup();
    readers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    #[test]
    fn only_departments_that_see_phones_in_full_are_readers() {
        let mut org = fixtures::org();
        let case = fixtures::stored_case();
        let ids: Vec<&str> = case.requests.iter().map(|r| r.id.as_str()).collect();
        assert!(letter_readers(&org, &case, ids.clone()).is_empty());
        let housing = case.requests[0].department.clone();
        org.departments
            .get_mut(&housing)
            .unwrap()
            .show_resident_phone = true;
        assert_eq!(
            letter_readers(&org, &case, ids.iter().copied().chain(ids.clone())),
            [format!("{housing} (letter)")]
        );
        assert!(letter_readers(&org, &case, ["no-such-request"]).is_empty());
    }
}
