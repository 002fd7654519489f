//! Placeholder until the backend lands.
use super::*;

#[derive(Debug)]
pub struct PgStore;

impl PgStore {
    pub async fn connect(_url: &str, _options: &PoolOptions) -> Result<Self, StoreError> {
        todo!()
    }
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        todo!()
    }
    async fn insert_case(&self, _case: Case) -> Result<Inserted, StoreError> {
        todo!()
    }
    async fn get_case(&self, _case_id: &str) -> Result<Option<Case>, StoreError> {
        todo!()
    }
    async fn case_id_for_request(&self, _request_id: &str) -> Result<Option<String>, StoreError> {
        todo!()
    }
    async fn update_case(
        &self,
        _case_id: &str,
        _change: &mut Change<'_>,
    ) -> Result<Case, StoreError> {
        todo!()
    }
    async fn list_cases(
        &self,
        _filter: &CaseFilter,
        _page: &PageRequest,
    ) -> Result<Page<Case>, StoreError> {
        todo!()
    }
    async fn list_requests(
        &self,
        _filter: &RequestFilter,
        _page: &PageRequest,
    ) -> Result<Page<Assigned>, StoreError> {
        todo!()
    }
    async fn close(&self) {}
}
