//! The figures supervisors rank by: the cases of a period read whole in one
//! snapshot, computed by `domain::statistics` at the service's clock.

use super::*;
use crate::domain::access::{self, Action};
use crate::domain::error::echo;
use crate::domain::statistics::{self, Scope, Statistics};
use crate::domain::{Actor, DomainError};

impl Whistle {
    /// Per department and per office over the cases escalated in the scope's
    /// period, as they stand now.
    #[tracing::instrument(skip_all)]
    pub async fn statistics(&self, actor: &Actor, scope: Scope) -> Result<Statistics> {
        access::permit(actor, Action::Supervise)?;
        let org = self.org.current();
        if let Some(office) = scope.office.as_deref().filter(|o| org.office(o).is_none()) {
            return Err(DomainError::invalid(
                "office",
                format!("{} is not an office", echo(office)),
                format!("{} 不是已配置的街道", echo(office)),
            )
            .into());
        }
        if let Some(department) = scope
            .department
            .as_deref()
            .filter(|d| org.department(d).is_none())
        {
            return Err(DomainError::invalid(
                "department",
                format!("{} is not a department", echo(department)),
                format!("{} 不是已配置的部门", echo(department)),
            )
            .into());
        }
        let cases = self
            .store
            .cases_escalated(scope.office.as_deref(), scope.from, scope.to)
            .await?;
        Ok(statistics::compute(
            &cases,
            &scope,
            &org,
            &org.scoring,
            self.clock.now(),
        ))
    }
}
